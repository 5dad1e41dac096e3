"""`python -m gobox.schema --markdown > docs/config.md`: write the configuration reference."""

import sys

from gobox.schema.markdown import reference_markdown

if sys.argv[1:] != ["--markdown"]:
    sys.exit("usage: python -m gobox.schema --markdown > docs/config.md")
sys.stdout.write(reference_markdown())
