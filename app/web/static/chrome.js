// chrome.js
