"""SQLAlchemy models, one module per aggregate."""

from ocelot.models.base import Base, utcnow
from ocelot.models.build import Build, Stage
from ocelot.models.log import LogChunk
from ocelot.models.repo import Repo
from ocelot.models.token import ApiToken

__all__ = ["ApiToken", "Base", "Build", "LogChunk", "Repo", "Stage", "utcnow"]
