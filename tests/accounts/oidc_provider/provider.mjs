// A real OpenID Connect provider (panva/oidc-provider, certified by the OpenID Foundation) for the sign-in tests.
// Configured from one JSON argument: {port, client_id, client_secret, redirect_uri, accounts: {login: claims}}.
// Its development login form (devInteractions) signs in any account listed in `accounts`; consent is granted
// for the one registered client, as a company's IdP does for its own first-party applications.
import Provider from 'oidc-provider';

const options = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${options.port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: options.client_id,
    client_secret: options.client_secret,
    redirect_uris: [options.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'given_name', 'family_name', 'name'],
    groups: ['groups'],
  },
  async findAccount(ctx, id) {
    const claims = options.accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  cookies: { keys: [options.cookie_key] },
  // Userinfo answers with every claim of the granted scopes (not only those in the ID token).
  conformIdTokenClaims: false,
});
provider.proxy = false;

provider.listen(options.port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
