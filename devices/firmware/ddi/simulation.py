"""The fleet simulator's update agent speaking hawkBit DDI (``simulate_fleet --protocol ddi``).

It behaves like SWUpdate in suricatta mode: poll the controller base; confirm a cancelAction;
fetch the deploymentBase, report ``proceeding``, download the artifact and check its SHA-1 and
SHA-256 against the deployment, report ``downloaded``, then either close with ``failure`` or
"reboot" and close with ``success`` and send configData with the version it now runs (its
heartbeat). A release whose metadata says ``{"simulation": {"failure_rate": x}}`` fails with
that probability; half the failures are install errors, half an image that does not come back
(closed success, then configData still on the old version: only the reboot-health rule sees it).
"""

import hashlib

import httpx


class DDIAgent:
    poll_every = 3  # behaviour ticks between polls when idle

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.step = "idle"
        self.ticks = behaviour.rng.randint(0, self.poll_every)
        self.action = None
        self.plan = None

    # --- plumbing ---

    @property
    def state(self):
        return self.behaviour.state

    @property
    def client(self):
        return self.behaviour.client

    @property
    def headers(self):
        return {"Authorization": f"TargetToken {self.state.token}"}

    @property
    def base(self):
        device = self.state.device
        return f"/{device.organization.slug}/controller/v1/{device.uid}"

    def _relative(self, href):
        index = href.find(self.base)
        return href[index:] if index >= 0 else href

    def _get(self, href):
        return self.client.get(self._relative(href), headers=self.headers)

    def _feedback(self, execution, finished="none", details=(), progress=None):
        result = {"finished": finished}
        if progress is not None:
            result["progress"] = progress
        body = {"status": {"execution": execution, "result": result, "details": list(details)}}
        url = f"{self.base}/deploymentBase/{self.action['id']}/feedback"
        response = self.client.post(url, json=body, headers=self.headers)
        self.behaviour.log.append((f"ddi:{execution}:{finished}", response.status_code))
        return response

    def _config(self):
        data = {
            "firmware_version": self.state.firmware_version,
            "security_version": str(self.behaviour.security_version),
            "agent": "encompass-simulator",
        }
        self.client.put(
            f"{self.base}/configData", json={"mode": "merge", "data": data}, headers=self.headers
        )

    def _reset(self):
        self.step, self.action, self.plan = "idle", None, None

    # --- steps ---

    def tick(self):
        if self.client is None:
            return
        self.ticks += 1
        try:
            getattr(self, f"_on_{self.step}")()
        except httpx.HTTPError as exc:  # web server unreachable: try again later
            self.behaviour.log.append(("unreachable", str(exc)))
        except (KeyError, TypeError, ValueError) as exc:  # a document we cannot use
            self.behaviour.log.append(("bad-document", str(exc)))
            if self.action is not None:
                self._feedback("closed", "failure", [f"unusable deployment: {exc}"])
            self._reset()

    def _on_idle(self):
        if self.ticks % self.poll_every:
            return
        response = self.client.get(self.base, headers=self.headers)
        if response.status_code != 200:
            return
        links = response.json().get("_links", {})
        if "cancelAction" in links:
            cancel = self._get(links["cancelAction"]["href"]).json()
            self.client.post(
                self._relative(links["cancelAction"]["href"]) + "/feedback",
                json={"id": cancel["cancelAction"]["stopId"],
                      "status": {"execution": "closed", "result": {"finished": "success"}}},
                headers=self.headers,
            )  # fmt: skip
            return
        if "configData" in links:
            self._config()
        if "deploymentBase" in links:
            action = self._get(links["deploymentBase"]["href"]).json()
            if action["deployment"].get("update") == "skip":
                return  # outside the maintenance window: wait
            self.action = action
            self.step = "download"

    def _on_download(self):
        self._feedback("proceeding", details=["Downloading"])
        chunk = self.action["deployment"]["chunks"][0]
        artifact = chunk["artifacts"][0]
        links = artifact["_links"]
        response = self._get((links.get("download-http") or links["download"])["href"])
        if response.status_code != 200:
            self._feedback("closed", "failure", [f"download answered {response.status_code}"])
            self._reset()
            return
        data = response.content
        hashes = artifact["hashes"]
        if (
            hashlib.sha1(data).hexdigest() != hashes["sha1"]  # noqa: S324 (DDI's download check)
            or hashlib.sha256(data).hexdigest() != hashes["sha256"]
        ):
            self._feedback("closed", "failure", ["Checksum does not match"])
            self._reset()
            return
        self._feedback("downloaded")
        roll = self.behaviour.rng.random()
        rate = self.behaviour._rate_of(self.action)
        self.plan = "ok" if roll >= rate else ("install" if roll < rate / 2 else "boot")
        self.step = "install"

    def _on_install(self):
        if self.plan == "install":
            self._feedback("closed", "failure", ["ERROR : simulated flash write error"])
            self._reset()
            return
        chunk = self.action["deployment"]["chunks"][0]
        self._feedback(
            "proceeding", details=["All Chunks Installed."], progress={"cnt": 1, "of": 1}
        )
        if self.plan == "ok":
            self.state.firmware_version = chunk["version"]
            for item in chunk.get("metadata", []):
                if item.get("key") == "security_version":
                    self.behaviour.security_version = int(item["value"])
        self.step = "report"

    def _on_report(self):
        # after the reboot: close the action, then the attributes (the heartbeat) of what runs
        self._feedback("closed", "success", ["Update Installed."])
        self._config()
        self._reset()
