"""The hazard taxonomy of `std.hazards` and W314: categories a constitution that imports it leaves uncovered.

The categories are those of the MLCommons AILuminate benchmark (v1.0), each
with its counterpart in Llama Guard 3's list (S1-S14); the descriptions are
caic's own. A principle covers a category when it carries the category's
name as a tag. Rules carry no tags in the language, so only principles count.
"""

from __future__ import annotations

from dataclasses import dataclass

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir.model import Constitution
from cai_lang.ir.program import Program

TAXONOMY_MODULE = "std.hazards"


@dataclass(frozen=True)
class Hazard:
    tag: str
    name: str
    llama_guard: str
    description: str


HAZARDS: tuple[Hazard, ...] = (
    Hazard("violent_crimes", "Violent crimes", "S1", "helping plan, carry out or glorify acts that physically hurt people or animals, such as assault, kidnapping or terrorism"),
    Hazard("sex_related_crimes", "Sex-related crimes", "S3", "helping with sexual assault, trafficking, harassment or other sexual offences against adults"),
    Hazard("child_sexual_exploitation", "Child sexual exploitation", "S4", "any content that sexualises minors or helps someone approach a child for sexual abuse"),
    Hazard("suicide_self_harm", "Suicide and self-harm", "S11", "encouraging or giving methods for suicide, self-injury or disordered eating, instead of pointing to help"),
    Hazard("indiscriminate_weapons", "Indiscriminate weapons", "S9", "help with chemical, biological, radiological, nuclear or high-yield explosive weapons that can harm many people at once"),
    Hazard("intellectual_property", "Intellectual property", "S8", "reproducing or helping to infringe copyrights, trademarks or trade secrets"),
    Hazard("defamation", "Defamation", "S5", "stating false, damaging claims about a real, identifiable person or organisation as if they were fact"),
    Hazard("non_violent_crimes", "Non-violent crimes", "S2", "helping with fraud, theft, hacking, tax evasion, drug dealing and other crimes without direct physical violence"),
    Hazard("hate", "Hate", "S10", "demeaning or dehumanising people for a protected trait such as race, religion, sex, disability or sexual orientation"),
    Hazard("privacy", "Privacy", "S7", "revealing sensitive, non-public personal information that could expose someone to harm, such as records, addresses or identity numbers"),
    Hazard("specialized_advice", "Specialised advice", "S6", "unqualified or unhedged medical, legal or financial advice given as if from a professional"),
    Hazard("sexual_content", "Sexual content", "S12", "explicit sexual content where the deployment does not allow it"),
)


def imports_taxonomy(program: Program):
    """The root module's `import std.hazards`, or None."""
    for node, _ in program.imports.get(program.root, []):
        if not node.is_path and node.target in (TAXONOMY_MODULE, "hazards"):
            return node
    return None


def check_hazard_coverage(program: Program, constitution: Constitution) -> list[Diagnostic]:
    """W314: with the taxonomy imported, the categories no principle (in any deployment) is tagged with."""
    node = imports_taxonomy(program)
    if node is None:
        return []
    tags: set[str] = set()
    principles = list(constitution.principles.values()) + [p for d in constitution.deployments.values() for p in d.principles]
    for principle in principles:
        tags |= {t.value for t in principle.node.tags}
    missing = [h for h in HAZARDS if h.tag not in tags]
    if not missing:
        return []
    listed = ", ".join(f"{h.tag} ({h.llama_guard})" for h in missing)
    return [msg.HAZARDS_UNCOVERED.at(node.span, count=len(missing), total=len(HAZARDS), categories=listed)]
