// Admin center: enrollment, sign-in, provisioning, deletion, policy, bulk
// deprovisioning. Every call sends the session's CSRF token (KS.call).
"use strict";
(function () {
  const t = KS.tenant();
  const page = document.body.dataset.page;
  const api = "/" + t + "/admin/api";
  function on(id, ev, fn) {
    const el = document.getElementById(id);
    if (el) el.addEventListener(ev, fn);
  }
  async function create(publicKey) {
    return navigator.credentials.create({ publicKey: KS.creationOptions(publicKey) });
  }

  on("logout", "click", async function () {
    try {
      const r = await KS.call("POST", api + "/logout");
      location.assign(r.next);
    } catch (e) { KS.error(e.message); }
  });

  on("enroll", "click", async function () {
    const token = document.body.dataset.token;
    KS.status("Touch your security key to create your passkey…");
    let begun, cred;
    try {
      begun = await KS.call("POST", api + "/enroll/begin", { token: token });
    } catch (e) { KS.error(e.message); return; }
    try { cred = await create(begun.publicKey); } catch (e) { KS.error(KS.ceremonyMessage(e)); return; }
    try {
      const body = KS.registrationJSON(cred, "Admin passkey");
      body.token = token;
      const done = await KS.call("POST", api + "/enroll/finish", body);
      KS.status("Passkey registered. Opening the admin center…");
      location.assign(done.next);
    } catch (e) { KS.error("Registration failed: " + e.message); }
  });

  on("login", "click", async function () {
    KS.status("Touch your security key…");
    let begun, cred;
    try { begun = await KS.call("POST", api + "/login/begin", {}); } catch (e) { KS.error(e.message); return; }
    try {
      cred = await navigator.credentials.get({ publicKey: KS.requestOptions(begun.publicKey) });
    } catch (e) { KS.error(KS.ceremonyMessage(e)); return; }
    try {
      const done = await KS.call("POST", api + "/login/finish", {
        flowId: begun.flowId, credential: KS.assertionJSON(cred),
      });
      location.assign(done.next);
    } catch (e) { KS.error("Sign-in failed: " + e.message); }
  });

  on("provision", "submit", async function (ev) {
    ev.preventDefault();
    const user = document.body.dataset.user;
    const name = document.getElementById("display-name").value.trim();
    KS.status("Touch the security key to create the passkey…");
    let opts, cred;
    try {
      opts = await KS.call("POST", api + "/users/" + user + "/passkeys/options");
    } catch (e) { KS.error(e.message); return; }
    try { cred = await create(opts.publicKey); } catch (e) { KS.error(KS.ceremonyMessage(e)); return; }
    try {
      const m = await KS.call("POST", api + "/users/" + user + "/passkeys", KS.registrationJSON(cred, name));
      sessionStorage.setItem("ks-flash", "Passkey “" + (m.displayName || m.id) + "” registered (AAGUID " + m.aaGuid + ").");
      location.reload();
    } catch (e) { KS.error("Registration failed: " + e.message); }
  });

  document.querySelectorAll(".delete-passkey").forEach(function (btn) {
    btn.addEventListener("click", async function () {
      const user = document.body.dataset.user;
      if (!confirm("Delete the passkey “" + btn.dataset.name + "”? The user can no longer sign in with it.")) return;
      try {
        await KS.call("DELETE", api + "/users/" + user + "/passkeys/" + encodeURIComponent(btn.dataset.id));
        sessionStorage.setItem("ks-flash", "Passkey “" + btn.dataset.name + "” deleted.");
        location.reload();
      } catch (e) { KS.error(e.message); }
    });
  });

  on("policy", "submit", async function (ev) {
    ev.preventDefault();
    const list = document.getElementById("aaguids").value.split(/[\s,]+/).filter(Boolean);
    const patch = {
      state: document.getElementById("enabled").checked ? "enabled" : "disabled",
      isAttestationEnforced: document.getElementById("attestation").checked,
      keyRestrictions: {
        isEnforced: document.getElementById("restrict").checked,
        enforcementType: document.getElementById("enforcement").value,
        aaGuids: list,
      },
    };
    try {
      await KS.call("POST", api + "/policy", patch);
      sessionStorage.setItem("ks-flash", "Policy saved.");
      location.reload();
    } catch (e) { KS.error("The policy was not saved: " + e.message); }
  });

  on("deprovision", "submit", async function (ev) {
    ev.preventDefault();
    const upns = document.getElementById("upns").value.split(/[\s,;]+/).filter(Boolean);
    const dry = document.getElementById("dry-run").checked;
    if (!dry && !confirm("Delete every passkey of " + upns.length + " user(s)? This cannot be undone.")) return;
    try {
      const r = await KS.call("POST", api + "/deprovision", { userPrincipalNames: upns, dryRun: dry });
      const table = document.getElementById("deprovision-result");
      const body = table.querySelector("tbody");
      body.textContent = "";
      r.value.forEach(function (row) {
        const tr = document.createElement("tr");
        const words = { notFound: "no such user", wouldDelete: "would delete", deleted: "deleted" };
        [row.userPrincipalName, words[row.status] || row.status, String(row.passkeys)].forEach(function (v) {
          const td = document.createElement("td");
          td.textContent = v;
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      document.getElementById("deprovision-caption").textContent =
        (r.dryRun ? "Dry run: " + r.passkeys + " passkey(s) of " + r.users + " user(s) would be deleted"
                  : r.passkeys + " passkey(s) of " + r.users + " user(s) deleted");
      table.hidden = false;
      KS.status(r.dryRun ? "Dry run finished; nothing was changed." : "Deprovisioning finished.");
    } catch (e) { KS.error(e.message); }
  });

  const flash = sessionStorage.getItem("ks-flash");
  if (flash) { sessionStorage.removeItem("ks-flash"); KS.status(flash); }
  void page;
})();
