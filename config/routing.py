from django.urls import path

from alarms.consumers import AlarmConsumer
from dashboards.consumers import LiveConsumer, PageConsumer

websocket_urlpatterns = [
    path("ws/page/", PageConsumer.as_asgi()),
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/alarms/", AlarmConsumer.as_asgi()),
]
