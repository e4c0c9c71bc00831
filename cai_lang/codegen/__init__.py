"""Code generation: checked constitutions into content-hashed bundles of prompt templates.

`compiler` builds a `bundle.Bundle` from a resolved deployment and writes it;
`templates` owns the Jinja2 sources and rendering; `wording` spells
conditions, rules and conflicts out in English; `markdown` renders
`constitution.md`; `hf_export` and `schema` serve `caic export` and
`caic schema`. The trainer needs only `bundle` (and `conditions`), which
import no jinja2, so this package file imports nothing.
"""
