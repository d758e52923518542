// End-user sign-in page: usernameless and username-first passkey sign-in
// through the sign-in API (/{tenant}/passkey/signin/begin|finish).
"use strict";
(function () {
  const t = KS.tenant();
  async function signIn(upn) {
    document.getElementById("result").hidden = true;
    KS.status("Waiting for your security key…");
    let begun;
    try {
      begun = await KS.call("POST", "/" + t + "/passkey/signin/begin", upn ? { userPrincipalName: upn } : {});
    } catch (e) {
      KS.error(e.status === 404 && upn ? "There is no user called " + upn + "." : e.message);
      return;
    }
    let cred;
    try {
      cred = await navigator.credentials.get({ publicKey: KS.requestOptions(begun.publicKey) });
    } catch (e) {
      KS.error(KS.ceremonyMessage(e));
      return;
    }
    KS.status("Checking your passkey…");
    try {
      const done = await KS.call("POST", "/" + t + "/passkey/signin/finish", {
        flowId: begun.flowId,
        credential: KS.assertionJSON(cred),
      });
      const m = done.method || {};
      document.getElementById("result-user").textContent = done.user.displayName;
      document.getElementById("result-upn").textContent = done.user.userPrincipalName;
      document.getElementById("result-key").textContent = m.displayName || m.model || "passkey " + m.id;
      document.getElementById("result-aaguid").textContent = (m.model || "unknown model") + " (" + m.aaGuid + ")";
      document.getElementById("result").hidden = false;
      KS.status("Signed in as " + done.user.userPrincipalName + ".");
    } catch (e) {
      KS.error("Sign-in failed: " + e.message);
    }
  }
  document.getElementById("signin-discoverable").addEventListener("click", function () { signIn(null); });
  document.getElementById("signin-username").addEventListener("submit", function (ev) {
    ev.preventDefault();
    signIn(document.getElementById("upn").value.trim());
  });
})();
