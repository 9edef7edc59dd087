"""The project's URLs plus one view that fails, to see the generic 500 page."""

from django.urls import path

from compassionclub.urls import urlpatterns as project_urlpatterns


def fails(request):
    raise RuntimeError("secret detail: member 0123456789AB")


urlpatterns = [*project_urlpatterns, path("fails/", fails)]
