"""The product's URLs plus one bare DRF endpoint: the ceiling of an API request under the same gunicorn (no
authentication, no database, no middleware work beyond what every request pays)."""

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class Ping(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True, "size": len(request.body)}, status=201)


urlpatterns = [path("bench/ping/", Ping.as_view()), path("", include("ketlogistic.urls"))]
