"""``python -m rewardlab.report EXPERIMENT_DIR [OUT_DIR]``."""

from rewardlab.report import main

raise SystemExit(main())
