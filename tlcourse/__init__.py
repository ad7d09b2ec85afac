"""tlcourse: a hands-on course on transfer learning.

Notebooks import everything from here; the heavy code lives in these modules, with tests.
"""
from .config import Profile, cache_dir, get_device, get_profile, seed_everything

__version__ = "0.1.0"
__all__ = ["Profile", "cache_dir", "get_device", "get_profile", "seed_everything", "__version__"]
