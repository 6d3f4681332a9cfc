/* sceneweb's page, the parts that only a browser can do: read, check and shrink photos before they
   travel (keeping their EXIF orientation), paste, the webcam, progress in words while the server
   works, every refusal next to the input that caused it, the result's own address and this
   browser's recent analyses (localStorage only). The Dash panel does the rest (classifier/panel/). */
(function () {
  "use strict";

  const ACCEPTED_TYPES = /^image\/(jpeg|png|webp|gif|bmp|tiff|heic|heif|avif)$/;
  const ACCEPTED_NAMES = /\.(jpe?g|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i;
  const FORMATS = "JPEG, PNG, WebP, HEIC, AVIF, GIF, BMP or TIFF";
  const LONG_SIDE = 1600; // ample for the analysis (224 px) and the page (512 px)
  const RECENT = "sceneweb.recent";
  const RECENT_MAX = 8;
  const UPDATE = "_dash-update-component";
  const NARROW = "(max-width: 760px)";
  const UNREACHABLE = "The server could not be reached; check the connection and try again.";
  const ERROR_OF = { url: "url-error", sample: "sample-error", result: "error" };
  const NOTE_OF = { url: ["url-note", "Fetching the image, then analysing it…"], sample: ["sample-note", "Analysing…"] };

  const byId = (id) => document.getElementById(id);
  const megabytes = (bytes) => (bytes / 1048576).toFixed(1);
  const setProps = (id, props) => window.dash_clientside.set_props(id, props);
  let pendingRefusals = [];
  let webcamStream = null;

  function limits() {
    const zone = byId("drop-zone");
    return { maxBytes: Number(zone.dataset.maxBytes) * 1048576, maxPhotos: Number(zone.dataset.maxPhotos) };
  }

  function say(error, note, done = false) {
    byId("photo-error").textContent = error || "";
    byId("photo-note").textContent = note || "";
    byId("photo-note").classList.toggle("is-done", done); // an outcome, not work in progress
  }

  function accepted(file) {
    return ACCEPTED_TYPES.test(file.type) || ACCEPTED_NAMES.test(file.name || "");
  }

  /* A photo over its share of the upload limit, or far larger than the analysis needs, is drawn
     smaller on a canvas (createImageBitmap applies its EXIF orientation) and sent as JPEG. A
     format this browser cannot draw (HEIC in most) goes as it is when it fits. */
  async function prepared(file, budget, maxBytes) {
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (error) {
      bitmap = null;
    }
    if (bitmap === null) {
      if (file.size <= budget) return file;
      throw new Error(
        `${file.name} is ${megabytes(file.size)} MB, over the ${megabytes(maxBytes)} MB limit, and this ` +
          "browser cannot shrink it; please send a smaller copy."
      );
    }
    const long = Math.max(bitmap.width, bitmap.height);
    if (file.size <= budget && long <= LONG_SIDE * 2) {
      bitmap.close();
      return file;
    }
    const scale = Math.min(1, LONG_SIDE / long);
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.9));
    if (!blob || blob.size > budget) throw new Error(`${file.name} could not be made small enough to send.`);
    return blob;
  }

  function dataUri(blob) {
    return new Promise((done, fail) => {
      const reader = new FileReader();
      reader.onload = () => done(reader.result);
      reader.onerror = () => fail(new Error("The file could not be read; please choose it again."));
      reader.readAsDataURL(blob);
    });
  }

  async function handleFiles(list) {
    const files = Array.from(list || []);
    if (!files.length) return;
    const { maxBytes, maxPhotos } = limits();
    const refusals = [];
    let chosen = files.filter((file) => {
      if (accepted(file)) return true;
      refusals.push(`${file.name || "The pasted file"} is not an image we accept; please send ${FORMATS}.`);
      return false;
    });
    if (chosen.length > maxPhotos) {
      refusals.push(`Only the first ${maxPhotos} photos are analysed at once.`);
      chosen = chosen.slice(0, maxPhotos);
    }
    if (!chosen.length) return say(refusals.join(" "), "");
    say(refusals.join(" "), chosen.length > 1 ? `Preparing ${chosen.length} photos…` : "Preparing the photo…");
    const budget = Math.floor((maxBytes * 0.9) / chosen.length); // all of them travel in one request
    const photos = [];
    for (const file of chosen) {
      try {
        photos.push({ name: file.name || "pasted image", uri: await dataUri(await prepared(file, budget, maxBytes)) });
      } catch (error) {
        refusals.push(error.message);
      }
    }
    if (!photos.length) return say(refusals.join(" "), "");
    pendingRefusals = refusals;
    say(refusals.join(" "), photos.length > 1 ? `Uploading and analysing ${photos.length} photos…` : "Uploading and analysing…");
    setProps("uploads", { data: { photos, sent: Date.now() } });
  }

  function analyseAddress(address) {
    setProps("url", { value: address });
    setTimeout(() => byId("url-go").click(), 0);
  }

  /* -- progress and refusals around every update the panel sends ------------------------------ */
  function groupOf(body) {
    let fired = "";
    try {
      fired = (JSON.parse(body).changedPropIds || []).join(" ");
    } catch (error) {
      return null;
    }
    if (fired.includes("uploads.data")) return "photo";
    if (fired.includes("url-go.n_clicks") || fired.includes("url.n_submit")) return "url";
    if (fired.includes('"sample"')) return "sample";
    if (/"strip"|"recent"|wanted\.data/.test(fired)) return "result";
    return null;
  }

  function busy(group, on) {
    const results = byId("results");
    if (NOTE_OF[group]) setProps(NOTE_OF[group][0], { children: on ? NOTE_OF[group][1] : "" });
    setProps("url-go", { disabled: on });
    if (results && !results.className.includes("is-empty")) {
      const plain = results.className.replace(" is-previous", "");
      setProps("results", { className: on ? `${plain} is-previous` : plain });
    }
  }

  function refused(group, message) {
    if (group === "photo") return say(message, "");
    setProps(ERROR_OF[group] || "error", { children: message });
  }

  async function messageOf(response) {
    try {
      return (await response.json()).error || `The server answered ${response.status}.`;
    } catch (error) {
      return `The server answered ${response.status}; please try again.`;
    }
  }

  const realFetch = window.fetch.bind(window);
  window.fetch = async function (resource, init) {
    const address = typeof resource === "string" ? resource : resource.url;
    if (!address.includes(UPDATE)) return realFetch(resource, init);
    const group = groupOf(init && init.body);
    if (group) busy(group, true);
    try {
      const response = await realFetch(resource, init);
      if (!response.ok && group) refused(group, await messageOf(response.clone()));
      return response;
    } catch (error) {
      if (group) refused(group, UNREACHABLE);
      throw error;
    } finally {
      if (group) busy(group, false);
    }
  };

  /* -- drop, pick, paste, camera, webcam --------------------------------------------------------- */
  document.addEventListener("change", (event) => {
    if (event.target.id === "photo-input" || event.target.id === "camera-input") {
      handleFiles(event.target.files);
      event.target.value = "";
    }
  });
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    byId("drop-zone").classList.add("is-active");
  });
  document.addEventListener("dragleave", (event) => {
    if (event.target === byId("drop-zone")) byId("drop-zone").classList.remove("is-active");
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    byId("drop-zone").classList.remove("is-active");
    const files = event.dataTransfer.files;
    const address = (event.dataTransfer.getData("text/uri-list") || "").split("\n")[0].trim();
    if (files && files.length) handleFiles(files);
    else if (/^https?:\/\//i.test(address)) analyseAddress(address);
  });
  document.addEventListener("paste", (event) => {
    const data = event.clipboardData;
    const files = Array.from((data && data.files) || []);
    if (files.length) {
      event.preventDefault();
      return handleFiles(files);
    }
    const text = ((data && data.getData("text/plain")) || "").trim();
    const typing = event.target.closest && event.target.closest("input, textarea, [contenteditable]");
    if (!typing && /^https?:\/\/\S+$/i.test(text)) {
      event.preventDefault();
      analyseAddress(text);
    }
  });

  function closeWebcam() {
    if (webcamStream) webcamStream.getTracks().forEach((track) => track.stop());
    webcamStream = null;
    byId("webcam").hidden = true;
    byId("webcam-open").focus();
  }

  async function openWebcam() {
    try {
      webcamStream = await navigator.mediaDevices.getUserMedia({ video: true });
    } catch (error) {
      return say(`The webcam could not be used (${error.name}); allow it in the browser, or choose a file.`, "");
    }
    byId("webcam-video").srcObject = webcamStream;
    byId("webcam").hidden = false;
    byId("webcam-snap").focus();
  }

  function snapWebcam() {
    const video = byId("webcam-video");
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth || 640;
    canvas.height = video.videoHeight || 480;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => {
      closeWebcam();
      handleFiles([new File([blob], "webcam snapshot.jpg", { type: "image/jpeg" })]);
    }, "image/jpeg", 0.92);
  }

  function setUpButtons() {
    const fine = !window.matchMedia("(pointer: coarse)").matches;
    if (fine && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) byId("webcam-open").hidden = false;
    byId("webcam-open").addEventListener("click", openWebcam);
    byId("webcam-snap").addEventListener("click", snapWebcam);
    byId("webcam-close").addEventListener("click", closeWebcam);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpButtons);
  else setUpButtons();

  /* -- the result's address and this browser's recent analyses --------------------------------- */
  function readRecent() {
    try {
      const items = JSON.parse(localStorage.getItem(RECENT) || "[]");
      return Array.isArray(items) ? items.filter((item) => item && typeof item.key === "string") : [];
    } catch (error) {
      return [];
    }
  }

  function element(type, props) {
    return { type, namespace: "dash_html_components", props };
  }

  function recentList(items, current) {
    if (!items.length) {
      return [element("P", { className: "sw-hint", children: "Nothing yet: the photos you analyse are listed here, on this browser only." })];
    }
    return items.map((item) =>
      element("Button", {
        id: { type: "recent", key: item.key },
        className: item.key === current ? "sw-recent-item is-current" : "sw-recent-item",
        title: item.summary || "",
        children: [
          element("Span", { className: "sw-recent-name", children: String(item.name || "photo") }),
          element("Span", { className: "sw-recent-scene", children: String(item.scene || "") }),
        ],
      })
    );
  }

  const namespace = (window.dash_clientside = window.dash_clientside || {});
  namespace.sceneweb = {
    showUploadFeedback(feedback) {
      const error = [...pendingRefusals, (feedback && feedback.error) || ""].filter(Boolean).join(" ");
      pendingRefusals = [];
      say(error, (feedback && feedback.status) || "", true);
      return Date.now();
    },
    rememberResult(meta) {
      let items = readRecent();
      const current = meta && meta.key;
      if (current) {
        items = [meta, ...items.filter((item) => item.key !== current)].slice(0, RECENT_MAX);
        try {
          localStorage.setItem(RECENT, JSON.stringify(items));
        } catch (error) {
          /* storage full or off: the list simply is not kept */
        }
        const address = new URL(window.location.href);
        address.searchParams.set("result", current);
        window.history.replaceState(null, "", address);
        if (window.matchMedia(NARROW).matches) {
          setTimeout(() => byId("headline") && byId("headline").scrollIntoView({ block: "start" }), 50);
        }
      }
      return recentList(items, current);
    },
    wantedResult() {
      const key = new URLSearchParams(window.location.search).get("result") || "";
      return /^[A-Za-z0-9_-]{24}$/.test(key) ? key : window.dash_clientside.no_update;
    },
  };
})();
