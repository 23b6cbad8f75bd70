// Upload form enhancement (the form works without this file: a plain multipart POST).
// Adds drag-and-drop of one or several files and sends each file to the API on its own
// XMLHttpRequest, with a real progress bar per file (upload progress events) and the
// session's CSRF token in the X-CSRFToken header.
(function () {
  "use strict";

  function errorText(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) { return body.error.message; }
    } catch (ignored) { /* not JSON */ }
    return "upload failed (HTTP " + xhr.status + ")";
  }

  function row(list, file) {
    var item = document.createElement("li");
    var name = document.createElement("span");
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload progress of " + file.name);
    var status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = "Waiting…";
    item.append(name, bar, status);
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

  // Each file is its own request, keyed from the form's idempotency key: a retried or repeated send of the same
  // file of the same submission replays the first answer instead of storing a second version.
  function send(form, file, ui, key) {
    return new Promise(function (resolve) {
      var data = new FormData();
      data.append("request_id", form.dataset.requestId);
      data.append("effective_date", form.elements.effective_date.value);
      data.append("note", form.elements.note.value);
      data.append("file", file, file.name);
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
          ui.bar.value = ui.bar.max;
          ui.status.textContent = "Uploaded: version " + JSON.parse(xhr.responseText).version;
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

    function add(files) {  // dropped files join those already chosen
      var merged = new DataTransfer();
      Array.prototype.forEach.call(input.files, function (f) { merged.items.add(f); });
      Array.prototype.forEach.call(files, function (f) { merged.items.add(f); });
      input.files = merged.files;
    }
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
      var files = Array.prototype.slice.call(input.files);
      list.textContent = "";
      button.disabled = true;
      var rows = files.map(function (file) { return row(list, file); });
      // one after the other, so each version number follows the order of the files
      files.reduce(function (previous, file, i) {
        return previous.then(function (allOk) {
          return send(form, file, rows[i], form.elements.idempotency_key.value + "-" + i).then(function (ok) { return allOk && ok; });
        });
      }, Promise.resolve(true)).then(function (allOk) {
        button.disabled = false;
        input.value = "";
        // the next batch is a new submission
        form.elements.idempotency_key.value = window.crypto && crypto.randomUUID ? crypto.randomUUID()
          : String(Date.now()) + Math.random().toString(16).slice(2);
        var done = document.createElement("li");
        var link = document.createElement("a");
        link.href = form.dataset.doneUrl;
        link.textContent = allOk ? "All files uploaded: show the new versions" : "Show the request";
        done.appendChild(link);
        list.appendChild(done);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.upload-form[data-upload-url]").forEach(enhance);
  });
}());
