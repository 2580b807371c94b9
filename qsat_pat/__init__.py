"""qsat_pat: pointing, acquisition and tracking for satellite QKD laser terminals.

One ROS 2 package holds both the Python code and the generated interfaces
(``from qsat_pat.msg import BeaconCentroid``).  The generated interface modules and
the hand-written modules may live in different directories (this source tree and the
rosidl-generated package in site-packages during development, see ARCHITECTURE.md
"How the package builds"), so ``__path__`` is extended over every ``qsat_pat``
directory on ``sys.path``: ``qsat_pat.core`` always comes from the source tree that
was imported first, ``qsat_pat.msg`` from wherever rosidl generated it.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
