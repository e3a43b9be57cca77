"""CycloneDX 1.6 ML-BOM of catalog models: each model a `machine-learning-model` component
with its declared licences, its ancestors' licences as concluded ones, and lineage as
dependencies (a fine-tune depends on its base)."""

from __future__ import annotations

import datetime as dt

from cyclonedx.model import ExternalReference, ExternalReferenceType, Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement
from cyclonedx.output.json import JsonV1Dot6

from catalog.snapshot import CatalogSnapshot, LicenseTerms, ModelView

PROPERTY = "modelyard:"


def _license(terms: LicenseTerms, acknowledgement: LicenseAcknowledgement) -> DisjunctiveLicense:
    url = XsUri(terms.source_url) if terms.source_url else None
    if terms.spdx_id:
        return DisjunctiveLicense(id=terms.spdx_id, url=url, acknowledgement=acknowledgement)
    return DisjunctiveLicense(name=terms.name, url=url, acknowledgement=acknowledgement)


def _component(snapshot: CatalogSnapshot, model: ModelView, day: dt.date) -> Component:
    declared = {p.terms.id: p.terms for p in model.periods_on(day)}
    inherited = {
        p.terms.id: p.terms
        for ancestor in snapshot.lineage(model)[1:]
        for p in ancestor.periods_on(day)
        if p.terms.id not in declared
    }
    licenses = [_license(t, LicenseAcknowledgement.DECLARED) for t in declared.values()]
    licenses += [_license(t, LicenseAcknowledgement.CONCLUDED) for t in inherited.values()]
    history = "; ".join(
        f"{p.terms.id} {p.start or 'release'}..{p.end or 'now'}"
        + ("" if p.verified else " (unverified)")
        for p in model.periods
    )
    properties = [
        Property(name=f"{PROPERTY}family", value=model.family),
        Property(name=f"{PROPERTY}license-history", value=history or "none recorded"),
        Property(
            name=f"{PROPERTY}license-verified",
            value=str(
                all(p.verified_on(day) and p.terms.verified for p in model.periods_on(day))
            ).lower(),
        ),
    ]
    if model.parameters:
        properties.append(Property(name=f"{PROPERTY}parameters", value=str(model.parameters)))
    if model.context_window:
        properties.append(
            Property(name=f"{PROPERTY}context-window", value=str(model.context_window))
        )
    properties += [
        Property(name=f"{PROPERTY}base-model", value=f"{parent} ({relation.value})")
        for parent, relation in model.parents
    ]
    group, _, name = model.hf_id.rpartition("/")
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=f"model:{model.hf_id}",
        group=group or None,
        name=name,
        description=model.name,
        licenses=licenses,
        external_references=[
            ExternalReference(
                type=ExternalReferenceType.DISTRIBUTION,
                url=XsUri(f"https://huggingface.co/{model.hf_id}"),
            )
        ],
        properties=properties,
    )


def ml_bom(snapshot: CatalogSnapshot, models: list[ModelView], day: dt.date) -> str:
    """The ML-BOM as CycloneDX 1.6 JSON text, covering the models and all their ancestors."""
    included: dict[str, ModelView] = {}
    for model in models:
        for member in snapshot.lineage(model):
            included.setdefault(member.hf_id, member)
    components = {hf_id: _component(snapshot, m, day) for hf_id, m in sorted(included.items())}
    bom = Bom()
    if len(models) == 1:
        bom.metadata.component = components.pop(models[0].hf_id)
    bom.metadata.properties.add(Property(name=f"{PROPERTY}licenses-as-of", value=day.isoformat()))
    bom.metadata.properties.add(
        Property(name=f"{PROPERTY}catalog-version", value=str(snapshot.version))
    )
    for component in components.values():
        bom.components.add(component)

    def ref(hf_id: str) -> Component:
        found = components.get(hf_id, bom.metadata.component)
        assert found is not None  # every included model is a component or the subject
        return found

    for member in included.values():
        parents = [ref(p) for p, _ in member.parents if p in included]
        bom.register_dependency(ref(member.hf_id), parents)
    return str(JsonV1Dot6(bom).output_as_string(indent=2))
