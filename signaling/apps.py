from django.apps import AppConfig


class SignalingConfig(AppConfig):
    name = "signaling"
    # This process's running signaling (wiring.Signaling), once its ASGI app is built.
    serving = None

    def ready(self):
        from animomeet import live_calls as admin_live_calls
        from meetings.signals import meeting_changed, meetings_deleted
        from signaling import receivers
        from signaling.live_calls import SignalingLiveCalls

        admin_live_calls.register(SignalingLiveCalls())
        meeting_changed.connect(receivers.meeting_changed, dispatch_uid="signaling.meeting_changed")
        meetings_deleted.connect(receivers.meetings_deleted, dispatch_uid="signaling.meetings_deleted")
