// The reason arrives in the URL fragment (the app opens index.html#<reason>);
// it is shown as text, never as markup.
const reason = decodeURIComponent(window.location.hash.slice(1));
if (reason) document.getElementById('reason').textContent = reason;
