import sys

from steward.interfaces.cli.main import main

sys.exit(main())
