// Distribution desk, progressive enhancement only: the page works the same without it.
// A form that is being sent disables its buttons, so a second click does not send it again
// (the hidden idempotency key already makes a resent form record once; this saves the trip).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("#desk form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sending === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.sending = "1";
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        // Disable after the submit has been dispatched, or the button's own value is lost.
        window.setTimeout(function () {
          button.disabled = true;
        }, 0);
      });
    });
  });

  // Enter on a batch chooses it and moves on to that substance's grams: one keystroke less per
  // line. (Without JavaScript, Enter on a list does nothing: it never sends the visit early.)
  document.querySelectorAll("#desk-record select.desk-batch-select").forEach(function (select) {
    select.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        var grams = document.getElementById(select.id.replace("desk-batch-", "desk-grams-"));
        if (grams) {
          grams.focus();
          grams.select();
        }
      }
    });
  });
});

// A page restored from the back/forward cache comes back with its buttons enabled again.
window.addEventListener("pageshow", function (event) {
  if (event.persisted) {
    document.querySelectorAll("#desk form").forEach(function (form) {
      delete form.dataset.sending;
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = false;
      });
    });
  }
});
