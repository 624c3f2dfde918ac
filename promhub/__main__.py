import sys

from promhub.cli import main

sys.exit(main())
