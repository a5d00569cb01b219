"""``python -m deploy deploy|undeploy [flags]``, as ``make deploy`` and ``make undeploy`` run it."""

import sys

from deploy.cli import main

sys.exit(main())
