"""The console scripts (``lbkeras-train`` & co.), installed as ``lbkeras_tools``.

Importing any of them first imports TensorFlow without its start-up log lines
(:mod:`tools.quiet_start`): that has to happen before anything else imports it.
"""

from .quiet_start import import_tensorflow

import_tensorflow()
