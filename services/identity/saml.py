"""SAML 2.0 sign-in through pysaml2 (xmlsec1 checks the signatures): SP-initiated only (an AuthnRequest
sent by the HTTP-Redirect binding, the answer posted to the ACS), every assertion signed by the key in the
IdP's metadata, addressed to this SP (audience), posted to this ACS (recipient/destination), within its
``NotOnOrAfter``, answering a request of ours that is still unspent; the response and assertion ids are kept
so that the same response is never accepted twice.

The one SP is ``<BASE_URL>/sso/saml/metadata`` (its entity id is where its metadata is served); every
organisation's IdP is configured with that metadata.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
import shutil

from defusedxml import ElementTree
from peewee import IntegrityError
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.mdstore import MetadataStore
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS

from domain.errors import ValidationError
from models import SsoConfig, SsoFlow, SsoResponseSeen, transaction, utcnow

from . import sso
from .oidc import Outcome

log = logging.getLogger("attest.sso")
XMLSEC = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
WEAK = re.compile(r"sha1$|#sha1|rsa-sha1|dsa-sha1|hmac-sha1", re.I)
MAX_RESPONSE = 200_000  # base64 characters: a real response is a few kB
EMAIL_ATTRIBUTES = ("email", "mail", "emailAddress", "urn:oid:0.9.2342.19200300.100.1.3",
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress")


def sp_settings(base_url: str) -> dict:
    return {"entityid": f"{base_url}/sso/saml/metadata", "acs": f"{base_url}/sso/saml/acs"}


def _sp_config(sp: dict, idp_metadata: str | None = None) -> SPConfig:
    settings = {
        "entityid": sp["entityid"],
        "xmlsec_binary": XMLSEC,
        "allow_unknown_attributes": True,
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(sp["acs"], BINDING_HTTP_POST)]},
            "want_assertions_signed": True,
            "want_response_signed": False,
            "allow_unsolicited": False,
            "authn_requests_signed": False,
            "name_id_format": NAMEID_FORMAT_EMAILADDRESS,
        }},
    }
    if idp_metadata:
        settings["metadata"] = {"inline": [idp_metadata]}
    config = SPConfig()
    config.load(settings)
    return config


def sp_metadata(sp: dict) -> str:
    return create_metadata_string(None, config=_sp_config(sp)).decode()


def idp_entity_id(metadata: str) -> str:
    """The IdP's entity id, from metadata that names exactly one IdP with a sign-in endpoint and a signing
    certificate (ValidationError otherwise): the settings' check before they are saved."""
    store = MetadataStore(None, _sp_config({"entityid": "urn:check", "acs": "https://check.invalid/acs"}))
    try:
        store.load("inline", metadata)
        idps = store.with_descriptor("idpsso")
    except Exception as exc:  # noqa: BLE001 - pysaml2 raises many kinds on malformed XML
        raise ValidationError(f"the IdP metadata cannot be read ({type(exc).__name__})", field="idp_metadata") from None
    if len(idps) != 1:
        raise ValidationError("the metadata must describe exactly one identity provider", field="idp_metadata")
    entity_id = next(iter(idps))
    if not store.single_sign_on_service(entity_id, BINDING_HTTP_REDIRECT):
        raise ValidationError("the IdP metadata has no HTTP-Redirect sign-in endpoint", field="idp_metadata")
    if not store.certs(entity_id, "idpsso", "signing"):
        raise ValidationError("the IdP metadata has no signing certificate", field="idp_metadata")
    return entity_id


def begin(config: SsoConfig, *, sp: dict, next_path: str = "", test_only: bool = False, ip: str = "") -> str:
    """The IdP URL (HTTP-Redirect binding) carrying a new AuthnRequest, whose id is kept as the flow."""
    client = Saml2Client(_sp_config(sp, config.idp_metadata))
    request_id, info = client.prepare_for_authenticate(entityid=config.issuer, binding=BINDING_HTTP_REDIRECT)
    sso.start_flow(config, key=request_id, next_path=next_path, test_only=test_only, ip=ip)
    return dict(info["headers"])["Location"]


def _parsed(saml_response: str):
    """The response's XML (defusedxml: no entities, no external references), or None."""
    if not isinstance(saml_response, str) or not saml_response or len(saml_response) > MAX_RESPONSE:
        return None
    try:
        return ElementTree.fromstring(base64.b64decode(saml_response, validate=False))
    except (binascii.Error, ValueError, ElementTree.ParseError):  # defusedxml's refusals are ValueErrors
        return None


def _weak_algorithms(root) -> list[str]:
    """SHA-1 signature or digest methods anywhere in the response: refused, whatever else verifies."""
    return sorted({el.get("Algorithm") for el in root.iter() if el.tag.endswith(("}SignatureMethod", "}DigestMethod"))
                   and WEAK.search(el.get("Algorithm") or "")})


def finish(saml_response: str, *, sp: dict, ip: str = "") -> Outcome:
    """The ACS: spend the flow the response answers, have pysaml2 check it, refuse a response or assertion
    id seen before, sign the user in. Every refusal is audited."""
    root = _parsed(saml_response)
    request_id = (root.get("InResponseTo") or "")[:64] if root is not None else ""
    flow = sso.spend_flow(request_id or "-", method="saml", ip=ip)
    config = flow.config
    if weak := _weak_algorithms(root):
        sso.refuse(config, "weak_signature", method="saml", ip=ip, detail=", ".join(weak),
                   message="The identity provider signs with SHA-1, which is refused: ask it to use SHA-256.")
    client = Saml2Client(_sp_config(sp, config.idp_metadata))
    try:
        response = client.parse_authn_request_response(saml_response, BINDING_HTTP_POST,
                                                       outstanding={flow.key: flow.next_path or "/"})
        if response is None:
            raise ValueError("no response")
        assertion = response.assertion
        if assertion is None or response.issuer() != config.issuer:
            raise ValueError("no assertion from the configured IdP")
    except Exception as exc:  # noqa: BLE001 - pysaml2 raises a zoo of types; each is a refusal, never a 500
        log.info("SAML response refused: %s: %s", type(exc).__name__, exc)
        sso.refuse(config, "saml_invalid", method="saml", ip=ip, detail=f"{type(exc).__name__}: {exc}",
                   message="The identity provider's answer could not be verified: sign-in refused.")
    _remember(config, flow, [response.response.id, assertion.id], _keep_until(response.not_on_or_after), ip=ip)
    identity = response.get_identity() or {}
    email = _email(response, identity)
    groups = identity.get(config.group_claim, []) if config.group_claim else []
    if flow.test_only:
        return Outcome(flow, None, sso.record_test(config, email=email, groups=groups, method="saml", ip=ip))
    return Outcome(flow, sso.complete_sign_in(config, email=email, groups=groups, method="saml", ip=ip,
                                              subject=email))


def _email(response, identity: dict) -> str:
    for name in EMAIL_ATTRIBUTES:
        values = identity.get(name)
        if values:
            return str(values[0])
    name_id = response.name_id
    return str(name_id.text).strip() if name_id is not None and name_id.text else ""


def _keep_until(not_on_or_after: int | bool | None) -> dt.datetime:
    """Until when a response's ids are kept: its ``NotOnOrAfter`` (seconds since the epoch, as pysaml2 gives
    it; 0 or False when absent) plus the skew, within a day from now."""
    now = utcnow()
    if not not_on_or_after:
        return now + sso.REMEMBER_RESPONSES
    expires = dt.datetime.fromtimestamp(int(not_on_or_after), dt.UTC).replace(tzinfo=None) + sso.RESPONSE_SKEW
    return min(expires, now + sso.REMEMBER_RESPONSES)


def _remember(config: SsoConfig, flow: SsoFlow, ids: list[str], keep_until: dt.datetime, *, ip: str) -> None:
    """Keep the ids until ``keep_until`` (the scheduler pass then purges them; a replay after it is refused
    as too old anyway); a second sight of one is a refused replay."""
    try:
        with transaction():
            SsoResponseSeen.insert_many([{"config": config.id, "response_id": i[:255], "keep_until": keep_until}
                                         for i in ids if i]).execute()
    except IntegrityError:
        sso.refuse(config, "replayed", method="saml", ip=ip,
                   message="This sign-in answer was already used: start again from the sign-in page.")
