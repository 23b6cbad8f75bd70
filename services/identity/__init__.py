"""Identity: single sign-on (OpenID Connect, SAML 2.0) and SCIM 2.0 provisioning of an organisation's own users. Imports people, audit and messages."""
