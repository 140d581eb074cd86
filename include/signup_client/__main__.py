"""`python -m include.signup_client`: the sign-up tool's command line."""

import sys

from include.signup_client.cli import main

sys.exit(main())
