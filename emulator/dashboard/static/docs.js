// Starts Swagger UI on the gateway's copy of the merged OpenAPI document.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The bearer token typed into "Authorize" survives a reload of the page.
    persistAuthorization: true,
    displayRequestDuration: true,
    tryItOutEnabled: true,
    filter: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
  });
})();
