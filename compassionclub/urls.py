from django.contrib import admin
from django.urls import include, path

from compassionclub import views
from distributions.status_page.views import status_page

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("admin/", admin.site.urls),
    path("status/", status_page, name="status_page"),
    path("i18n/", include("django.conf.urls.i18n")),
]
