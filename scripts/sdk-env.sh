#!/usr/bin/env bash
# Makes (once) the Python environment in which Microsoft's Graph SDK is the client of mailgate's Graph endpoint:
# .dev/sdk-venv with the pinned packages of tests/sdk/requirements.txt. Prints the venv's python.
exec "$(dirname "${BASH_SOURCE[0]}")/py-env.sh" sdk tests/sdk/requirements.txt "msgraph, kiota_abstractions"
