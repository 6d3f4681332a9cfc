from django.urls import include, path

urlpatterns = [
    path("", include("classifier.urls")),
]

# API paths answer JSON even for unknown URLs and unexpected failures; pages keep Django's own.
handler400 = "classifier.views.bad_request"
handler404 = "classifier.views.not_found"
handler500 = "classifier.views.server_error"
