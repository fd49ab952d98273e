from .assessments import Assessment, RequirementResult
from .checks import CheckFinding, CheckRun
from .evidence import Evidence
from .frameworks import Framework, Requirement, RequirementMapping
from .scores import ScoreSnapshot

__all__ = [
    "Assessment",
    "CheckFinding",
    "CheckRun",
    "Evidence",
    "Framework",
    "Requirement",
    "RequirementMapping",
    "RequirementResult",
    "ScoreSnapshot",
]
