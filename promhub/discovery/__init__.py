"""promhub.discovery: target providers (static, file_sd, http_sd) feeding scrape.

>>> from promhub.discovery import DiscoveryManager, TargetGroup
"""

from promhub.discovery.manager import DiscoveryManager
from promhub.discovery.targetgroup import DiscoveryError, TargetGroup

__all__ = ["DiscoveryError", "DiscoveryManager", "TargetGroup"]
