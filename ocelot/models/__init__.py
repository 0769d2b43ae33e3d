"""SQLAlchemy models, one module per aggregate."""

# Delivery/PrComment/RepoHook/Poll (forges, issue 3), Notification (issue 5), Worker (the
# workers registry, issue 13) and Subscription (upstream → downstream builds, issue 12) are
# re-exported so Base.metadata and Alembic see every table.
from ocelot.models.base import Base, utcnow
from ocelot.models.build import Build, Stage
from ocelot.models.credential import Credential as Credential
from ocelot.models.credential import SecretValue as SecretValue
from ocelot.models.delivery import Delivery as Delivery
from ocelot.models.hook import PrComment as PrComment
from ocelot.models.hook import RepoHook as RepoHook
from ocelot.models.host_key import HostKey as HostKey
from ocelot.models.installation import Installation as Installation
from ocelot.models.log import LogChunk
from ocelot.models.notification import Notification as Notification
from ocelot.models.poll import Poll as Poll
from ocelot.models.repo import Repo
from ocelot.models.subscription import Subscription as Subscription
from ocelot.models.token import ApiToken
from ocelot.models.worker import Worker as Worker

__all__ = ["ApiToken", "Base", "Build", "LogChunk", "Repo", "Stage", "utcnow"]
