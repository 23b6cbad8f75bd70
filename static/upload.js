// Upload form enhancement (the form works without this file: a plain multipart POST).
// The files chosen or dropped are one submission (one version, reviewed as one): they are listed as they
// are added (dropped files join those already chosen) and sent together on one XMLHttpRequest, with one
// progress bar for the whole upload (upload progress events) and the session's CSRF token in the
// X-CSRFToken header. Nothing is stored unless every file is accepted.
(function () {
  "use strict";

  function errorText(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) { return body.error.message; }
    } catch (ignored) { /* not JSON */ }
    return "upload failed (HTTP " + xhr.status + ")";
  }

  function sizeText(bytes) {
    if (bytes < 1024) { return bytes + " bytes"; }
    if (bytes < 1024 * 1024) { return (bytes / 1024).toFixed(1) + " KB"; }
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function what(files) {
    return files.length === 1 ? files[0].name : files.length + " files";
  }

  // The chosen files, one line each, before anything is sent.
  function listChosen(list, files) {
    list.textContent = "";
    files.forEach(function (file) {
      var item = document.createElement("li");
      item.className = "upload-file";
      var name = document.createElement("span");
      name.className = "file-name";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "muted small";
      size.textContent = sizeText(file.size);
      item.append(name, size);
      list.appendChild(item);
    });
  }

  // One bar for the whole submission.
  function progressRow(list, files) {
    var item = document.createElement("li");
    item.className = "upload-progress";
    var bar = document.createElement("progress");
    bar.max = files.reduce(function (sum, f) { return sum + f.size; }, 0) || 1;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload progress of " + what(files));
    var status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = "Waiting…";
    item.append(bar, status);
    list.appendChild(item);
    return { bar: bar, status: status };
  }

  // A refused upload's bytes were all sent before the answer came: its bar empties and turns red, so it never
  // looks like a success.
  function failed(ui, why) {
    ui.bar.value = 0;
    ui.bar.classList.add("failed");
    ui.bar.setAttribute("aria-label", ui.bar.getAttribute("aria-label").replace("Upload progress", "Failed upload"));
    ui.status.textContent = "Not uploaded: " + why;
    ui.status.classList.add("failed");
  }

  // One submission (all its files) is one request, keyed by the form's idempotency key: a retried or repeated
  // send of the same submission replays the first answer instead of storing a second version.
  function send(form, files, ui, key) {
    return new Promise(function (resolve) {
      var data = new FormData();
      data.append("request_id", form.dataset.requestId);
      data.append("effective_date", form.elements.effective_date.value);
      data.append("note", form.elements.note.value);
      files.forEach(function (file) { data.append("file", file, file.name); });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", form.elements.csrf_token.value);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Idempotency-Key", key);
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          ui.bar.max = event.total;
          ui.bar.value = event.loaded;
          ui.status.textContent = "Uploading… " + Math.round(100 * event.loaded / event.total) + " %";
        }
      });
      xhr.addEventListener("load", function () {
        var ok = xhr.status === 201;
        if (ok) {
          var body = JSON.parse(xhr.responseText);
          ui.bar.value = ui.bar.max;
          ui.status.textContent = "Uploaded: version " + body.version +
            (body.files.length > 1 ? " (" + body.files.length + " files)" : "");
        } else {
          failed(ui, errorText(xhr));
        }
        resolve(ok);
      });
      xhr.addEventListener("error", function () {
        failed(ui, "the connection failed");
        resolve(false);
      });
      ui.status.textContent = "Uploading…";
      xhr.send(data);
    });
  }

  function enhance(form) {
    var input = form.elements.file;
    var zone = form.querySelector("[data-dropzone]");
    var list = form.querySelector("[data-upload-list]");
    var button = form.querySelector("button[type=submit]");
    form.querySelector(".dropzone-hint").hidden = false;

    function chosen() { return Array.prototype.slice.call(input.files); }
    function add(files) {  // dropped files join those already chosen
      var merged = new DataTransfer();
      chosen().forEach(function (f) { merged.items.add(f); });
      Array.prototype.forEach.call(files, function (f) { merged.items.add(f); });
      input.files = merged.files;
      listChosen(list, chosen());
    }
    input.addEventListener("change", function () { listChosen(list, chosen()); });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      add(event.dataTransfer.files);
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!form.reportValidity()) { return; }
      var files = chosen();
      listChosen(list, files);
      button.disabled = true;
      send(form, files, progressRow(list, files), form.elements.idempotency_key.value).then(function (ok) {
        button.disabled = false;
        input.value = "";
        // the next batch is a new submission
        form.elements.idempotency_key.value = window.crypto && crypto.randomUUID ? crypto.randomUUID()
          : String(Date.now()) + Math.random().toString(16).slice(2);
        var done = document.createElement("li");
        var link = document.createElement("a");
        link.href = form.dataset.doneUrl;
        link.textContent = ok ? "Uploaded: show the new version" : "Show the request";
        done.appendChild(link);
        list.appendChild(done);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.upload-form[data-upload-url]").forEach(enhance);
  });
}());
