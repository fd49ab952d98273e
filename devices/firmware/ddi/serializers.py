"""The DDI v1 documents, as serializers: input validation and the OpenAPI schema of the device
API (the shapes follow Eclipse hawkBit's Direct Device Integration API)."""

from rest_framework import serializers

from .services import EXECUTIONS, FINISHED


class ProgressSerializer(serializers.Serializer):
    cnt = serializers.IntegerField(min_value=0)
    of = serializers.IntegerField(min_value=0, required=False)


class ResultSerializer(serializers.Serializer):
    finished = serializers.ChoiceField(choices=FINISHED, default="none")
    progress = ProgressSerializer(required=False)


class StatusSerializer(serializers.Serializer):
    execution = serializers.ChoiceField(choices=EXECUTIONS)
    result = ResultSerializer(required=False)
    details = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=2000),
        required=False,
        max_length=64,
    )
    code = serializers.IntegerField(required=False)


class FeedbackSerializer(serializers.Serializer):
    """``POST .../deploymentBase/{actionId}/feedback`` and ``.../cancelAction/{id}/feedback``."""

    id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    time = serializers.CharField(required=False, allow_blank=True, max_length=64)
    status = StatusSerializer()

    def flat(self):
        status = self.validated_data["status"]
        result = status.get("result") or {}
        return {
            "execution": status["execution"],
            "finished": result.get("finished", "none"),
            "details": status.get("details") or [],
            "progress": result.get("progress"),
        }


class ConfigDataSerializer(serializers.Serializer):
    """``PUT .../configData``: the device's attributes (``firmware_version``,
    ``security_version`` drive the reboot-health rule)."""

    id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    time = serializers.CharField(required=False, allow_blank=True, max_length=64)
    status = serializers.DictField(required=False)
    mode = serializers.ChoiceField(choices=["merge", "replace", "remove"], default="merge")
    data = serializers.DictField(child=serializers.JSONField())


# --- response documents (schema only) ---


class HrefSerializer(serializers.Serializer):
    href = serializers.URLField()


class PollingSerializer(serializers.Serializer):
    sleep = serializers.CharField(help_text="HH:MM:SS until the next poll.")


class ConfigSerializer(serializers.Serializer):
    polling = PollingSerializer()


class BaseLinksSerializer(serializers.Serializer):
    deploymentBase = HrefSerializer(required=False)
    cancelAction = HrefSerializer(required=False)
    installedBase = HrefSerializer(required=False)
    configData = HrefSerializer(required=False)


class ControllerBaseSerializer(serializers.Serializer):
    config = ConfigSerializer()
    _links = BaseLinksSerializer()


class HashesSerializer(serializers.Serializer):
    sha1 = serializers.CharField()
    md5 = serializers.CharField()
    sha256 = serializers.CharField()


class ArtifactLinksSerializer(serializers.Serializer):
    download = HrefSerializer()
    md5sum = HrefSerializer()


class ArtifactSerializer(serializers.Serializer):
    filename = serializers.CharField()
    hashes = HashesSerializer()
    size = serializers.IntegerField()
    _links = ArtifactLinksSerializer()


class KeyValueSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField()


class ChunkSerializer(serializers.Serializer):
    part = serializers.CharField()
    version = serializers.CharField()
    name = serializers.CharField()
    metadata = KeyValueSerializer(many=True)
    artifacts = ArtifactSerializer(many=True)


HANDLING = ["skip", "attempt", "forced"]


class DeploymentSerializer(serializers.Serializer):
    download = serializers.ChoiceField(choices=HANDLING)
    update = serializers.ChoiceField(choices=HANDLING)
    maintenanceWindow = serializers.ChoiceField(
        choices=["available", "unavailable"], required=False
    )
    chunks = ChunkSerializer(many=True)


class DeploymentBaseSerializer(serializers.Serializer):
    id = serializers.CharField()
    deployment = DeploymentSerializer()


class StopSerializer(serializers.Serializer):
    stopId = serializers.CharField()


class CancelActionSerializer(serializers.Serializer):
    id = serializers.CharField()
    cancelAction = StopSerializer()
