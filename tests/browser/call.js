// A minimal meeting client for the browser test (tests/browser/run_call.py drives it).
//
// It does what the real web client does, in the same way: REST calls with cookies
// (credentials: 'include'), socket.io-client with its default options (polling, then the
// upgrade to WebSocket) and withCredentials so that the polling requests carry the login
// cookie, join-call, and WebRTC through the server's `signal` relay: the participant who
// receives `user-joined` about itself sends offers to everyone already in the call; SDP
// and ICE candidates travel as JSON strings ({sdp} / {ice}) as the web client sends them.
// Like the web client, it re-sends join-call on every Socket.IO connect while in the call.
//
// Everything observable is collected in window.animo.state for the runner to read.
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const API = params.get("api"); // http://127.0.0.1:<daphne port>
  const ROLE = params.get("role") || "page";

  const state = {
    role: ROLE,
    socketId: null,
    connected: false,
    connects: [], // {id, recovered} at every connect (recovered: Socket.IO's state recovery)
    disconnects: [], // the reason of every disconnect
    withoutTransportS: [], // seconds from each disconnect to the next connect
    connectErrors: [],
    transports: [], // engine transport names seen: at open and after each upgrade
    joined: false,
    userJoined: [], // every user-joined payload received, in order
    userLeft: [], // [socketId, username] of every user-left
    callErrors: [],
    chat: [], // chat-message payloads with their key order
    offersSent: [],
    answersSent: [],
    answersReceived: [],
    iceRestartsSent: [],
    signalsReceived: 0,
    candidatesSent: [],
    candidatesReceived: [],
    peers: {}, // peer socket id -> {connectionState, iceConnectionState, iceStates, tracks}
    dcOpen: {},
    dcReceived: [], // {from, data}
    dcErrors: [],
    remoteFrames: {}, // peer socket id -> {frames, width, height, currentTime}
    errors: [],
    log: [],
  };

  let socket = null;
  let localStream = null;
  let joinPayload = null; // re-sent on every connect while in the call, as the web client does
  let disconnectedAt = null; // performance.now() of the last disconnect, until the next connect
  // No STUN/TURN unless the runner sets them: host candidates only, on loopback
  // (--allow-loopback-in-peer-connection).
  let rtcConfig = { iceServers: [] };
  const pcs = {}; // peer socket id -> RTCPeerConnection
  const channels = {}; // peer socket id -> RTCDataChannel
  const pendingIce = {}; // candidates that arrived before the remote description

  function note(...parts) {
    const line = `${(performance.now() / 1000).toFixed(3)} ${parts.map(p => (typeof p === "string" ? p : JSON.stringify(p))).join(" ")}`;
    state.log.push(line);
    const el = document.getElementById("log");
    if (el) el.textContent = state.log.slice(-15).join("\n");
  }

  function fail(where, err) {
    const message = `${where}: ${err && err.stack ? err.stack : err}`;
    state.errors.push(message);
    note("ERROR", message);
  }

  window.addEventListener("error", e => fail("window.onerror", e.message));
  window.addEventListener("unhandledrejection", e => fail("unhandledrejection", e.reason));

  // --- REST -------------------------------------------------------------------------

  async function rest(method, path, body) {
    const init = { method, credentials: "include", headers: {} };
    if (body !== undefined && body !== null) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(`${API}/api/v1${path}`, init);
    const text = await response.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
    note("rest", method, path, response.status);
    return { status: response.status, body: json, text: json === null ? text : undefined };
  }

  // --- media ------------------------------------------------------------------------

  async function startMedia() {
    // Chromium's fake devices (--use-fake-device-for-media-stream): a moving test pattern
    // and a beep; --use-fake-ui-for-media-stream grants the permission.
    localStream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true });
    const local = document.getElementById("local");
    local.srcObject = localStream;
    await local.play().catch(e => fail("local play", e));
    const tracks = localStream.getTracks().map(t => `${t.kind}:${t.label}`);
    note("local media", tracks);
    return tracks;
  }

  function showRemote(peerId, stream) {
    let video = document.getElementById(`remote-${peerId}`);
    if (video) {
      if (video.srcObject !== stream) video.srcObject = stream;
      return;
    }
    const figure = document.createElement("figure");
    video = document.createElement("video");
    video.id = `remote-${peerId}`;
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    video.srcObject = stream;
    const caption = document.createElement("figcaption");
    caption.textContent = `remote ${peerId}`;
    figure.append(video, caption);
    document.getElementById("remotes").append(figure);
    const stats = (state.remoteFrames[peerId] = { frames: 0, width: 0, height: 0, currentTime: 0 });
    const onFrame = (now, meta) => {
      stats.frames += 1;
      stats.width = meta.width;
      stats.height = meta.height;
      stats.currentTime = video.currentTime;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    video.play().catch(e => fail("remote play", e));
    note("remote video for", peerId);
  }

  // --- WebRTC -----------------------------------------------------------------------

  function peer(peerId) {
    if (pcs[peerId]) return pcs[peerId];
    const pc = new RTCPeerConnection(rtcConfig);
    pcs[peerId] = pc;
    pendingIce[peerId] = [];
    const info = (state.peers[peerId] = { connectionState: "new", iceConnectionState: "new", iceStates: [], tracks: [] });
    for (const track of localStream.getTracks()) pc.addTrack(track, localStream);
    pc.onicecandidate = e => {
      if (!e.candidate) return;
      state.candidatesSent.push(e.candidate.candidate);
      socket.emit("signal", peerId, JSON.stringify({ ice: e.candidate }));
    };
    pc.ontrack = e => {
      info.tracks.push(e.track.kind);
      showRemote(peerId, e.streams[0] || new MediaStream([e.track]));
    };
    pc.ondatachannel = e => wireChannel(peerId, e.channel);
    pc.onconnectionstatechange = () => {
      info.connectionState = pc.connectionState;
      note("pc", peerId, pc.connectionState);
    };
    pc.oniceconnectionstatechange = () => {
      info.iceConnectionState = pc.iceConnectionState;
      info.iceStates.push(pc.iceConnectionState);
    };
    return pc;
  }

  function wireChannel(peerId, channel) {
    channels[peerId] = channel;
    channel.onopen = () => {
      state.dcOpen[peerId] = true;
      channel.send(`hello over the data channel from ${ROLE} ${socket.id}`);
    };
    channel.onmessage = e => state.dcReceived.push({ from: peerId, data: e.data });
    // Closing a call aborts its channels on the other side too: noted, not an error.
    channel.onerror = e => state.dcErrors.push(`${peerId}: ${e.error || e}`);
  }

  async function offerTo(peerId) {
    const pc = peer(peerId);
    wireChannel(peerId, pc.createDataChannel("animo-test"));
    await pc.setLocalDescription(await pc.createOffer());
    state.offersSent.push(peerId);
    socket.emit("signal", peerId, JSON.stringify({ sdp: pc.localDescription }));
  }

  async function restartIce(peerId) {
    // A renegotiation with new ICE credentials, through the same relay as the first offer.
    const pc = pcs[peerId];
    await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
    state.iceRestartsSent.push(peerId);
    socket.emit("signal", peerId, JSON.stringify({ sdp: pc.localDescription }));
  }

  function iceUfrag(description) {
    const match = description && /^a=ice-ufrag:(\S+)/m.exec(description.sdp);
    return match ? match[1] : null;
  }

  function iceInfo() {
    // Per peer connection: its states and the ICE credentials of both descriptions.
    const out = {};
    for (const [peerId, pc] of Object.entries(pcs)) {
      out[peerId] = {
        connectionState: pc.connectionState,
        iceConnectionState: pc.iceConnectionState,
        signalingState: pc.signalingState,
        localUfrag: iceUfrag(pc.localDescription),
        remoteUfrag: iceUfrag(pc.remoteDescription),
      };
    }
    return out;
  }

  async function onSignal(fromId, message) {
    state.signalsReceived += 1;
    const signal = typeof message === "string" ? JSON.parse(message) : message;
    const pc = peer(fromId);
    if (signal.sdp) {
      await pc.setRemoteDescription(signal.sdp);
      for (const candidate of pendingIce[fromId].splice(0)) await pc.addIceCandidate(candidate);
      if (signal.sdp.type === "offer") {
        await pc.setLocalDescription(await pc.createAnswer());
        state.answersSent.push(fromId);
        socket.emit("signal", fromId, JSON.stringify({ sdp: pc.localDescription }));
      } else {
        state.answersReceived.push(fromId);
      }
    } else if (signal.ice) {
      state.candidatesReceived.push(signal.ice.candidate);
      if (pc.remoteDescription) await pc.addIceCandidate(signal.ice);
      else pendingIce[fromId].push(signal.ice);
    }
  }

  // --- socket -----------------------------------------------------------------------

  function connect(url = API) {
    // Default options, as the web client: polling first, then the upgrade to WebSocket, and
    // socket.io-client's own reconnection. `url` may be a proxy in front of the API.
    socket = io(url, { withCredentials: true });
    socket.on("connect", () => {
      state.connected = true;
      state.socketId = socket.id;
      state.connects.push({ id: socket.id, recovered: socket.recovered });
      if (disconnectedAt !== null) {
        state.withoutTransportS.push(Number(((performance.now() - disconnectedAt) / 1000).toFixed(3)));
        disconnectedAt = null;
      }
      document.getElementById("title").textContent = `${ROLE} ${socket.id}${socket.recovered ? " (recovered)" : ""}`;
      note("connect", socket.id, socket.io.engine.transport.name, socket.recovered ? "recovered" : "new");
      if (joinPayload) socket.emit("join-call", joinPayload);
    });
    socket.on("disconnect", reason => {
      state.connected = false;
      state.disconnects.push(reason);
      disconnectedAt = performance.now();
      note("disconnect", reason);
    });
    socket.on("connect_error", err => state.connectErrors.push(String(err && err.message)));
    socket.io.on("open", () => {
      const engine = socket.io.engine;
      state.transports.push(engine.transport.name);
      engine.on("upgrade", transport => state.transports.push(transport.name));
    });

    socket.on("user-joined", payload => {
      state.userJoined.push(payload);
      note("user-joined", payload.id, payload.username, payload.existing ? "existing" : "new");
      if (payload.id === socket.id && !payload.existing) {
        state.joined = true;
        // The answer to a re-sent join-call lists the same peers: they are called already.
        for (const other of payload.clients) {
          if (other !== socket.id && !pcs[other]) offerTo(other).catch(e => fail(`offer to ${other}`, e));
        }
      }
    });
    socket.on("signal", (fromId, message) => onSignal(fromId, message).catch(e => fail(`signal from ${fromId}`, e)));
    socket.on("chat-message", payload => state.chat.push({ keys: Object.keys(payload), payload }));
    socket.on("user-left", (id, username) => {
      state.userLeft.push([id, username]);
      note("user-left", id, username);
      if (pcs[id]) { pcs[id].close(); delete pcs[id]; }
    });
    socket.on("call-error", payload => { state.callErrors.push(payload); note("call-error", payload); });
  }

  function useRtcConfig(config) {
    // {iceServers, iceTransportPolicy} for the peer connections made from now on.
    rtcConfig = config;
  }

  function join(roomID, username, name) {
    joinPayload = {
      roomID, username, name,
      audioEnabled: true, audioAvailable: true, videoEnabled: true, videoAvailable: true,
    };
    socket.emit("join-call", joinPayload);
  }

  function chat(data, forgedSender) {
    // The sender and socketIdSender are the client's claims; the server must replace them.
    socket.emit("chat-message", { sender: forgedSender, data, time: Date.now(), socketIdSender: "forged-id" });
  }

  function leave() {
    // As the web client does on leaving: hang up every peer connection, stay connected.
    joinPayload = null;
    socket.emit("leave-call");
    for (const [peerId, pc] of Object.entries(pcs)) { pc.close(); delete pcs[peerId]; }
  }

  async function rtcStats() {
    // The selected candidate pair of each peer connection: where the media really flows.
    const out = {};
    for (const [peerId, pc] of Object.entries(pcs)) {
      const report = await pc.getStats();
      const byId = new Map();
      report.forEach(s => byId.set(s.id, s));
      let pair = null;
      let transportUfrag = null;
      const inbound = {};
      report.forEach(s => {
        if (s.type === "transport" && s.selectedCandidatePairId) {
          pair = byId.get(s.selectedCandidatePairId);
          transportUfrag = s.iceLocalUsernameFragment;
        }
        if (s.type === "inbound-rtp") inbound[s.kind] = { packetsReceived: s.packetsReceived, framesDecoded: s.framesDecoded };
      });
      const describe = c => c && { address: c.address, port: c.port, protocol: c.protocol, candidateType: c.candidateType };
      out[peerId] = {
        local: pair && describe(byId.get(pair.localCandidateId)),
        remote: pair && describe(byId.get(pair.remoteCandidateId)),
        bytesReceived: pair && pair.bytesReceived,
        localUfrag: transportUfrag, // the ICE credentials the selected pair uses
        inbound,
      };
    }
    return out;
  }

  function snapshot() {
    // A JSON-safe copy, with the live counters of the remote videos.
    for (const [peerId, stats] of Object.entries(state.remoteFrames)) {
      const video = document.getElementById(`remote-${peerId}`);
      if (video) {
        stats.currentTime = video.currentTime;
        const quality = video.getVideoPlaybackQuality();
        stats.totalVideoFrames = quality.totalVideoFrames;
        stats.videoWidth = video.videoWidth;
        stats.videoHeight = video.videoHeight;
      }
    }
    return JSON.parse(JSON.stringify(state));
  }

  window.animo = { state, rest, startMedia, connect, useRtcConfig, join, chat, leave, restartIce, iceInfo, rtcStats, snapshot };
})();
