// Which pages each role may open (the server enforces the same) and where each role starts.
export const PAGES = {
  "/board": { title: "nav_board", roles: ["operator", "bureau", "admin"] },
  "/agency": { title: "nav_agency", roles: ["agency", "admin"] },
  "/bureau": { title: "nav_bureau", roles: ["bureau", "admin"] },
  "/map": { title: "nav_map", roles: ["operator", "bureau", "admin"] },
  "/admin/users": { title: "nav_users", roles: ["admin"] },
};
const HOME = { operator: "/board", agency: "/agency", bureau: "/bureau", admin: "/board" };

export function homeFor(role) {
  return HOME[role] ?? "/login";
}

export function mayOpen(role, path) {
  return Boolean(PAGES[path]?.roles.includes(role));
}

export function pagesFor(role) {
  return Object.keys(PAGES).filter((path) => mayOpen(role, path));
}
