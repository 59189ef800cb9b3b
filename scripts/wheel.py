# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Build the extension's wheel: `python scripts/wheel.py <dist dir>`. `make wheel`, the wheel test
(tests/e2e/test_wheel_install.py) and the bench (bench/common.py) all build it this one way.

Built from a copy of what the wheel is made of: setuptools leaves build/ and *.egg-info in the tree it builds.
AKS_CONNECTION_LOCAL_VERSION is setup.py's local version label. pip's own messages go to stderr (the wheel test
reads them: a quiet build); its exit code is this script's."""
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ("setup.py", "pyproject.toml", "README.md", "HISTORY.rst")
PACKAGE = "azext_aks_connection"


def main(dist):
    src = tempfile.mkdtemp(prefix="aksconn-wheel-src-")
    try:
        for name in SOURCES:
            shutil.copy(os.path.join(REPO, name), os.path.join(src, name))
        shutil.copytree(os.path.join(REPO, PACKAGE), os.path.join(src, PACKAGE),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", os.path.abspath(dist),
                               src], check=False, timeout=600,
                              env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")).returncode
    finally:
        shutil.rmtree(src, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
