// The search page: with no query yet, the page's own box takes the keyboard, so typing
// starts a search at once. With results, focus stays where the reader expects it.
const again = document.getElementById("search-again");
if (again && !again.value) again.focus();
