"""``python -m rewardlab.cli``: the ``rewardlab`` command."""

import sys

from rewardlab.cli.app import main

sys.exit(main())
