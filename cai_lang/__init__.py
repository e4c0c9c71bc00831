"""caic: constitution-as-code for Constitutional AI.

The package turns `.const` files into checked, content-hashed bundles of
critique, revision and comparison prompts, and trains models from those
bundles. Importing the package is cheap; heavy libraries (torch,
transformers, trl) are only imported by `cai_lang.engine` and
`cai_lang.train`.
"""

__version__ = "0.1.0"
