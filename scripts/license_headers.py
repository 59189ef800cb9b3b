# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The license header azure-cli-extensions requires on every Python file (azdev's verify license reads it):
``--check`` lists the files without it (exit 1), no option adds it where it is missing (after a shebang line)."""
import os
import sys

HEADER = ("# --------------------------------------------------------------------------------------------\n"
          "# Copyright (c) Microsoft Corporation. All rights reserved.\n"
          "# Licensed under the MIT License. See License.txt in the project root for license information.\n"
          "# --------------------------------------------------------------------------------------------\n")
REQUIRED = HEADER.splitlines(keepends=True)[1] + HEADER.splitlines(keepends=True)[2]   # azdev's LICENSE_HEADER
ROOTS = ("azext_aks_connection", "sandbox", "tests", "bench", "scripts", "setup.py")
SKIP = ("__pycache__", ".venv", "node_modules")


def python_files(repo):
    for root in ROOTS:
        path = os.path.join(repo, root)
        if os.path.isfile(path):
            yield path
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if d not in SKIP]
            yield from (os.path.join(folder, f) for f in sorted(files) if f.endswith(".py"))


def main(argv):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    missing = []
    for path in python_files(repo):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if not text or REQUIRED in text:
            continue
        missing.append(os.path.relpath(path, repo))
        if "--check" not in argv:
            first, _, rest = text.partition("\n")
            text = f"{first}\n{HEADER}{rest}" if first.startswith("#!") else HEADER + text
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if "--check" in argv and missing:
        print("Files without the license header (python scripts/license_headers.py adds it):\n  " +
              "\n  ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
