"""The catalogue as DCAT-AP 3: JSON-LD (with its @context inline) and Turtle, written from one list of nodes.

The catalog lists the open datasets (with their distributions) and the catalogue's resources that are not open
(`dct:accessRights` restricted or non-public, no distribution: their metadata, never their data). Pages follow Hydra
(`hydra:PartialCollectionView` with first, previous, next and last); `modified_since` keeps what changed since then.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from rongcheng.catalogue import selectors
from rongcheng.catalogue.models import DataResource, Dataset, OpenType

PREFIXES = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "hydra": "http://www.w3.org/ns/hydra/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "adms": "http://www.w3.org/ns/adms#",
}
ACCESS = "http://publications.europa.eu/resource/authority/access-right/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
FREQUENCIES = {0: "IRREG", 1: "DAILY", 7: "WEEKLY", 30: "MONTHLY", 91: "QUARTERLY", 365: "ANNUAL"}
FILE_TYPES = {"CSV": "CSV", "JSON": "JSON", "XLSX": "XLSX", "GeoJSON": "GEOJSON"}
PAGE_SIZE = 100

Node = dict[str, Any]


def _iri(value: str) -> dict[str, str]:
    return {"@id": value}


def _text(value: str, language: str = "zh") -> dict[str, str]:
    return {"@value": value, "@language": language}


def _typed(value: str, datatype: str) -> dict[str, str]:
    return {"@value": value, "@type": datatype}


def _datetime(value: dt.datetime) -> dict[str, str]:
    return _typed(value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"), "xsd:dateTime")


def dataset_nodes(dataset: Dataset, base: str) -> list[Node]:
    uri = f"{base}/opendata/dataset/{dataset.name}"
    publisher = f"{base}/opendata/organization/{selectors.organization_name(dataset.organization)}"
    licence = selectors.LICENCE_TITLES.get(dataset.licence_id, ("", "", False))
    node: Node = {
        "@id": uri,
        "@type": "dcat:Dataset",
        "dct:identifier": _typed(str(dataset.uuid), "xsd:string"),
        "dct:title": _text(dataset.title),
        "dct:description": _text(dataset.notes or dataset.title),
        "dct:publisher": _iri(publisher),
        "dct:issued": _datetime(dataset.metadata_created),
        "dct:modified": _datetime(dataset.metadata_modified),
        "dct:accessRights": _iri(ACCESS + "PUBLIC"),
        "dct:accrualPeriodicity": _iri(FREQUENCY + FREQUENCIES.get(dataset.update_cycle, "IRREG")),
        "dcat:landingPage": _iri(uri),
        "dcat:keyword": [_text(t.name) for t in dataset.tag_rows.all()],
        "dcat:theme": [_iri(f"{base}/opendata/group/{g.name}") for g in dataset.groups.all()],
        "dcat:distribution": [],
    }
    if dataset.revision:
        node["adms:version"] = _typed(str(dataset.revision), "xsd:string")
    nodes = [node, {"@id": publisher, "@type": "foaf:Agent", "foaf:name": _text(dataset.organization.name)}]
    for resource in dataset.resources.all():
        distribution = f"{uri}/resource/{resource.uuid}"
        download = resource.url or f"{distribution}/download"
        node["dcat:distribution"].append(_iri(distribution))
        entry: Node = {
            "@id": distribution,
            "@type": "dcat:Distribution",
            "dct:title": _text(resource.name),
            "dcat:accessURL": _iri(download),
            "dcat:downloadURL": _iri(download),
            "dcat:mediaType": _iri("https://www.iana.org/assignments/media-types/"
                                   + selectors.MEDIA_TYPES.get(resource.format, "text/csv")),
            "dct:format": _iri(FILE_TYPE + FILE_TYPES.get(resource.format, "CSV")),
            "dct:modified": _datetime(resource.last_modified),
        }  # fmt: skip
        if licence[1]:
            entry["dct:license"] = _iri(licence[1])
        nodes.append(entry)
    return nodes


def resource_nodes(resource: DataResource, base: str) -> list[Node]:
    """A catalogue resource that is not open: its metadata and access rights, no distribution."""
    uri = f"{base}/opendata/catalogue-resource/{resource.code}"
    publisher = f"{base}/opendata/organization/{selectors.organization_name(resource.provider)}"
    rights = "RESTRICTED" if resource.open_type == OpenType.CONDITIONAL else "NON_PUBLIC"
    node: Node = {
        "@id": uri,
        "@type": "dcat:Dataset",
        "dct:identifier": _typed(resource.code, "xsd:string"),
        "dct:title": _text(resource.name),
        "dct:description": _text(resource.summary),
        "dct:publisher": _iri(publisher),
        "dct:issued": _typed(resource.published_on.isoformat(), "xsd:date"),
        "dct:modified": _datetime(resource.updated_at),
        "dct:accessRights": _iri(ACCESS + rights),
        "dct:rights": _text(resource.open_condition or resource.get_open_type_display()),
        "dct:accrualPeriodicity": _iri(FREQUENCY + FREQUENCIES.get(resource.update_cycle, "IRREG")),
    }
    return [node, {"@id": publisher, "@type": "foaf:Agent", "foaf:name": _text(resource.provider.name)}]


def catalog_nodes(base: str, *, page: int, modified_since: dt.datetime | None, path: str) -> list[Node]:
    datasets = selectors.datasets_prefetched(selectors.datasets_visible(None)).order_by("name")
    resources = DataResource.objects.exclude(open_type=OpenType.OPEN).select_related("provider").order_by("code")
    if modified_since is not None:
        datasets = datasets.filter(metadata_modified__gte=modified_since)
        resources = resources.filter(updated_at__gte=modified_since)
    total_datasets, total_resources = datasets.count(), resources.count()
    total = total_datasets + total_resources
    last = max(1, -(-total // PAGE_SIZE))
    start = (page - 1) * PAGE_SIZE
    page_datasets = list(datasets[start : start + PAGE_SIZE]) if start < total_datasets else []
    resource_start = max(0, start - total_datasets)
    page_resources = list(resources[resource_start : resource_start + PAGE_SIZE - len(page_datasets)])
    catalog_uri = f"{base}/opendata/catalog"
    graph: list[Node] = []
    members: list[dict[str, str]] = []
    seen: set[str] = set()
    for nodes in [dataset_nodes(d, base) for d in page_datasets] + [resource_nodes(r, base) for r in page_resources]:
        members.append(_iri(nodes[0]["@id"]))
        for node in nodes:
            if node["@id"] not in seen:
                seen.add(node["@id"])
                graph.append(node)

    def page_url(number: int) -> str:
        query = {"page": number}
        if modified_since is not None:
            query["modified_since"] = modified_since.isoformat()  # type: ignore[assignment]
        return f"{base}{path}?{urlencode(query)}"

    view: Node = {
        "@id": page_url(page),
        "@type": "hydra:PartialCollectionView",
        "hydra:first": _iri(page_url(1)),
        "hydra:last": _iri(page_url(last)),
    }
    if page > 1:
        view["hydra:previous"] = _iri(page_url(page - 1))
    if page < last:
        view["hydra:next"] = _iri(page_url(page + 1))
    catalog: Node = {
        "@id": catalog_uri,
        "@type": ["dcat:Catalog", "hydra:Collection"],
        "dct:title": _text("榕城开放数据目录"),
        "dct:description": _text("福州市政府数据开放平台与政务信息资源目录"),
        "dct:publisher": _iri(f"{base}/opendata/organization/fz-szb"),
        "dcat:dataset": members,
        "hydra:totalItems": _typed(str(total), "xsd:integer"),
        "hydra:view": _iri(view["@id"]),
    }
    return [catalog, view, *graph]


def as_jsonld(nodes: list[Node]) -> str:
    return json.dumps({"@context": PREFIXES, "@graph": nodes}, ensure_ascii=False, indent=1)


def _escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )


def _term(value: Any) -> str:
    if "@id" in value:
        return f"<{value['@id']}>"
    literal = f'"{_escape(str(value["@value"]))}"'
    if "@language" in value:
        return f"{literal}@{value['@language']}"
    return f"{literal}^^{value['@type']}" if "@type" in value else literal


def as_turtle(nodes: list[Node]) -> str:
    lines = [f"@prefix {prefix}: <{iri}> ." for prefix, iri in PREFIXES.items()]
    for node in nodes:
        types = node["@type"] if isinstance(node["@type"], list) else [node["@type"]]
        statements = [f"a {', '.join(types)}"]
        for key, value in node.items():
            if key.startswith("@"):
                continue
            values = value if isinstance(value, list) else [value]
            if values:
                statements.append(f"{key} {', '.join(_term(v) for v in values)}")
        lines.append("")
        lines.append(f"<{node['@id']}> " + " ;\n    ".join(statements) + " .")
    return "\n".join(lines) + "\n"
