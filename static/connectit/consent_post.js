// Auto-submits the consent form when the provider's auth URL takes POST.
document.getElementById("consent-post").submit();
