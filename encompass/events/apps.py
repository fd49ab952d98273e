from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "encompass.events"
    label = "events"
    verbose_name = "Event stream"

    def ready(self):
        from encompass import jobs
        from encompass.schedules import register_schedule

        jobs.connect()
        register_schedule("jobs.interrupted", "encompass.jobs.sweep_interrupted", minutes=1)

        register_schedule("worker-heartbeat", "encompass.tasks.worker_heartbeat", minutes=1)
        register_schedule(
            "events.retention", "encompass.events.tasks.purge_expired_events", minutes=60
        )
