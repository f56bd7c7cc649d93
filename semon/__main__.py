import sys

from semon.cli import main

sys.exit(main())
