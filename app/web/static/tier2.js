// tier2.js
