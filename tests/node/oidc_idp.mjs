// A real OpenID provider for the tests (oidc-provider, the certified Node.js implementation) on loopback.
// Configured by one JSON argument: {port, issuer, client: {...}, jwks: {keys: [private JWKs]}, accounts: {id: claims}}.
// Sign-in uses the library's development interactions: any account id typed as the login, then "Continue".
import Provider from "oidc-provider";

const config = JSON.parse(process.argv[2]);
const provider = new Provider(config.issuer, {
  clients: [config.client],
  jwks: config.jwks,
  claims: { openid: ["sub"], email: ["email", "email_verified", "groups"] },
  conformIdTokenClaims: false,  // put the e-mail and groups in the ID token itself
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  findAccount: async (ctx, id) => {
    const claims = config.accounts[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
});
provider.on("server_error", (ctx, err) => console.error("server_error", err));
provider.listen(config.port, "127.0.0.1", () => console.log(`ready ${config.issuer}`));
