// All UI text, Chinese first (zh-CN is the default; en for visitors and tests).
// Pure module: importable in node for tests (localStorage is optional).

const STORAGE_KEY = "semon.lang";
export const LANGS = ["zh-CN", "en"];

const zh = {
  app_title: "西宁市特种设备监测平台",
  nav_board: "应急处置看板", nav_agency: "检验机构", nav_bureau: "监管局", nav_login: "登录",
  logout: "退出登录", dev_mode: "开发模式（未启用登录）", lang_switch: "English",
  live: "实时", not_live: "连接中断，正在重连…", connecting: "正在连接…", reconnect_in: "{s} 秒后重连",
  enable_sound: "开启声音", sound_on: "声音已开启",
  login_title: "登录", username: "用户名", password: "密码", login_submit: "登录",
  login_failed: "用户名或密码错误", login_unavailable: "登录服务暂不可用",
  forbidden: "您无权访问此页面。", go_home: "返回首页", loading: "加载中…", error: "出错了：{msg}",
  sep: "：", retry: "重试", none: "无", yes: "是", no: "否", close: "关闭", unknown: "未知",
  // Board
  entrapments: "困人救援", no_entrapments: "当前无困人事件", other_alarms: "其他告警", no_alarms: "当前无告警",
  entrapment_banner: "困人告警！{n} 起未接警", trapped_for: "被困时长", trapped_ended: "已解困（{t}）",
  ack_deadline: "接警时限", arrival_deadline: "到场时限", overdue_by: "已超时 {t}", remaining: "剩余 {t}",
  awaiting_dispatch: "待派遣", arrived_at: "到场 {time}", late: "超时", on_time: "准时",
  incident_state: "状态", maintenance_unit: "维保单位", contact: "联系人/电话", comment: "备注",
  comment_placeholder: "处置备注（可选）", add_comment: "记录备注", false_alarm: "误报",
  confirm_false_alarm: "确认标记为误报？", step_conflict: "事件已被他人更新：{msg}", step_failed: "操作失败：{msg}",
  step_acknowledged: "接警", step_dispatched: "派遣维保单位", step_on_site: "确认到场",
  step_released: "确认解困", step_closed: "结案",
  dispatch_needs: "派遣需要填写维保单位和联系人", escalated: "已升级至二级救援：{who}",
  no_incident: "未建立救援事件", read_only: "只读",
  device: "设备", address: "地址", district: "区县", registration_code: "设备代码", owner: "使用单位",
  agency: "检验机构", status: "状态", last_inspection: "上次检验", next_due: "下次检验",
  fit_for_use: "准用状态", online: "在线", offline: "离线", last_seen: "最后上报", telemetry: "最新数据",
  open_alarms: "未消除告警", not_registered: "未登记", device_not_found: "未找到该设备",
  raised_at: "告警时间", severity: "级别", type: "类型", phone: "电话", category: "类别",
  // Agency
  agency_title: "检验机构工作台", overdue_list: "超期未检", due_list: "60 天内到期", notices: "通知",
  no_equipment: "无设备", no_notices: "无通知", days_overdue: "超期 {n} 天", days_left: "剩余 {n} 天",
  record_inspection: "录入检验结果", schedule: "检验项目", inspected_on: "检验日期", result: "结论",
  report_no: "报告编号", submit: "提交", recorded: "已录入，下次检验日期：{date}", record_this: "录入",
  agency_code: "检验机构代码", filter_agency: "按检验机构筛选（代码）", kind: "类型", recipient: "接收方",
  channel: "渠道", attempts: "尝试次数", last_error: "最近错误", created_at: "生成时间", delivered_at: "送达时间",
  due_date: "到期日", refresh: "刷新",
  // Bureau
  bureau_title: "监管总览", alarm_load: "实时告警负荷", total_open: "未消除告警合计", by_severity: "按级别",
  by_type: "按类型", rescue_kpis: "困人救援指标（近 30 天）", kpi_by_district: "按区县",
  kpi_by_unit: "按维保单位", not_dispatched: "未派遣", incidents: "事件数", false_alarms: "误报", response: "应答",
  arrival: "到场", rescue: "救援", mean: "平均", median: "中位", late_acks: "应答超时",
  late_arrivals: "到场超时", escalations: "升级", inspection_rate: "定检率（目标 {target}%）",
  rate_by_district: "按区县", rate_by_category: "按类别", city_rate: "全市定检率", in_use: "在用",
  overdue: "超期", rate: "定检率", meets_target: "达标", below_target: "未达标", trend: "定检率趋势（近 90 天）",
  expired_running: "超期未检仍在运行", no_expired_running: "当前无超期运行设备", in_minutes: "单位：分钟",
  // 96333 desk: the incident card, 新建接警, the timeline, the shift view
  step_responded: "确认响应", response_deadline: "响应时限", responded_at: "响应 {time}",
  new_call: "新建接警", intake_search_hint: "救援识别码 / 设备代码 / 使用登记证编号 / 地址",
  intake_note: "来电内容", intake_open: "建立接警", cancel: "取消", intake_unregistered: "未登记设备（手工填写）",
  caller: "来电人", caller_phone: "来电电话", intake_found: "找到 {n} 台", intake_none: "未找到，可勾选“未登记设备”手工填写",
  intake_picked: "已选：", intake_needs_device: "请填写设备代码", intake_needs_unit: "请先查找并选择电梯",
  intake_refused: "未能建立：{msg}", rescue_code: "救援识别码", dispatch_send: "派遣", close_record: "结案记录",
  close_needs: "结案需填写：{what}", no_answer: "无人接听", redispatch: "重新派遣", start_tier_2: "启动二级救援",
  call_119: "呼叫 119", tier_3_note: "已启动三级救援：{who}", tier_2_default: "最近的网格救援站（留空自动选择）",
  tier_3_default: "消防救援（留空为 119）", tier_default_contact: "联系电话（留空自动）",
  contacts: "联系人：", unregistered_hint: "未登记设备：地址和维保单位请向来电人核实",
  unregistered_unit: "维保单位（请输入）", timeline: "处置记录", system_actor: "系统", place: "使用场所",
  closed_at: "结案时间", rec_persons_released: "解救人数", rec_injuries: "受伤人数", rec_cause_class: "困人原因",
  rec_self_release: "自行脱困", rec_callback_confirmed: "回访确认", rec_maintenance_unit: "单位", rec_contact: "联系人",
  rec_caller: "来电人", rec_caller_phone: "来电电话", rec_alarm_id: "关联告警", rec_reason: "原因", tier: "救援级别",
  nav_shift: "值班记录", shift_today: "今日事件", shift_open: "处置中 {n}", shift_closed: "已结束 {n}",
  shift_history: "历史查询", handover: "交接班摘要", handover_since: "本班开始", date_from: "起始日期",
  date_to: "截止日期", search_text: "关键词（设备代码、救援识别码、来电人、维保单位）", search: "查询", more: "更多",
  all: "全部", source: "来源", id: "编号", no_incidents: "无事件", result_count: "共 {n} 条",
  handover_open: "未结", handover_closed: "本班结案", handover_late_acks: "接警超时", handover_late_responses: "响应超时",
  handover_late_arrivals: "到场超时", handover_escalations: "升级", handover_open_list: "未结事件（移交下一班）",
  handover_closed_list: "本班结案", rescuer: "救援单位",
  // Alarm desks: the 96333 line's faults, the boiler desk, the IoT view, shelving, sound
  nav_boiler: "锅炉监测", nav_iot: "物联网监测", line_faults: "电梯故障告警（96333）",
  desk_title_96333: "96333 电梯应急处置", desk_title_boiler: "锅炉告警", desk_title_iot: "物联网监测：离线与数据中断",
  desk_title_inspection: "准用状态告警（超期未检仍在运行）", desk_count: "{n} 条",
  all_types: "全部类型", all_districts: "全部区县", all_states: "全部状态", search_alarms: "搜索设备代码、类型、原因",
  alarm_unacknowledged: "未确认", alarm_acknowledged: "已确认", alarm_handling: "处理",
  alarm_acknowledge: "确认", alarm_shelve: "搁置", alarm_unshelve: "取消搁置", shelved_alarms: "已搁置",
  shelved_until: "搁置至", shelved_reason: "搁置原因", shelve_minutes: "搁置时长",
  shelve_reason_placeholder: "搁置原因（必填）", shelve_needs_reason: "请填写搁置原因", minutes_n: "{n} 分钟",
  acknowledged_by: "{who} 于 {time} 确认",
  sound_on_turn_off: "声音已开启（点击关闭）", click_to_enable_sound: "点击此处或页面任意处以开启声音",
  notify_title: "【{type}】96333 新告警", permit_state: "准用状态",
  // Map (the city map of alarms and incidents)
  nav_map: "地图", map_title: "全市告警与救援分布", map_city: "全市", map_core: "城区",
  map_incidents: "救援事件", map_alarms: "告警", map_total: "合计", map_unlocated: "{n} 个未登记坐标",
  map_outlines_failed: "区划边界加载失败：{msg}", map_legend_incident: "困人救援", map_legend_critical: "紧急告警",
  map_legend_other: "其他告警", map_source: "区划边界：天地图（示意，非权威界线）",
  // Users (the administrator's page, /admin/users)
  nav_users: "用户管理", users_title: "用户管理", users_add: "新增用户", users_log: "操作记录",
  users_display_name: "显示名称", users_role: "角色", users_initial_password: "初始密码",
  users_password_rule: "密码至少 8 个字符，不能全是空格，至少含 4 个不同的字符；请当面或通过安全渠道告知用户。", users_new_password: "新密码",
  users_reset: "重置", users_disable: "停用", users_enable: "启用", users_active: "启用中", users_inactive: "已停用",
  users_you: "本人", users_not_yourself: "不能停用自己的账号", users_none: "暂无用户", users_no_events: "暂无操作记录",
  users_created_on: "创建日期", users_when: "时间", users_who: "操作人", users_action: "操作", users_detail: "详情",
  users_created: "已新增用户 {user}", users_password_set: "已重置 {user} 的密码，其登录已失效",
  users_disabled: "已停用 {user}，其登录已失效", users_enabled: "已启用 {user}",
  // Agency desk: lists, export, results upload, conclusions
  equipment_list: "设备清单", search_equipment: "设备代码、登记证编号、地址或使用单位", search: "查询",
  all_districts: "全部区县", all_categories: "全部类别", all_statuses: "全部状态", due_window: "到期范围",
  window_overdue: "超期未检", window_due30: "30 天内到期", window_due60: "60 天内到期", window_due90: "90 天内到期",
  window_all: "全部", sort_by: "排序", sort_next_due: "按下次检验日期", sort_registration_code: "按设备代码",
  sort_district: "按区县", sort_category: "按类别", sort_address: "按地址", sort_status: "按状态",
  sort_owner: "按使用单位", descending: "倒序", page_size: "每页条数", per_page: "每页 {n} 条",
  prev_page: "上一页", next_page: "下一页", export_xlsx: "导出 Excel（全部筛选结果）",
  list_count: "第 {from}–{to} 条，共 {total} 条", upload_results: "批量上传检验结果", upload_file: "结果文件",
  upload: "上传", upload_template: "下载模板", upload_done: "已录入 {stored} 条，退回 {rejected} 条",
  upload_hint: "CSV（Excel 另存的 CSV、CSV UTF-8 或 Unicode 文本均可）或 XLSX；列：设备代码、检验项目、检验日期、检验结论、检验性质、报告编号、检验员、下次检验日期、安全状况等级。正确的行会保存，错误的行按行号列出。",
  line: "行号", reason: "原因", whole_file: "整个文件", safety_grade: "安全状况等级", conclusion: "检验结论",
  inspection_kind: "检验性质", inspector: "检验员", report_file: "检验报告文件", report_uploaded: "报告文件已上传",
  // Agency desk: empty lists, the notices' pager, corrections, a refused report file.
  list_empty: "无结果", notice_count: "第 {from}–{to} 条，共 {total} 条通知",
  upload_done_replaced: "已录入 {stored} 条，更正 {replaced} 条，退回 {rejected} 条",
  recorded_replaced: "已更正当天同性质的检验记录，下次检验：{date}",
  report_refused: "检验记录已保存，但报告文件未保存：{msg}。请选择 PDF、PNG 或 JPEG 文件后再次提交（同一天同性质的记录会被更正，不会重复）。",
};

const en = {
  app_title: "Xining Special Equipment Monitoring",
  nav_board: "Emergency board", nav_agency: "Inspection agency", nav_bureau: "Bureau", nav_login: "Log in",
  logout: "Log out", dev_mode: "development mode (no login)", lang_switch: "中文",
  live: "live", not_live: "not live: reconnecting…", connecting: "connecting…", reconnect_in: "reconnecting in {s} s",
  enable_sound: "enable sound", sound_on: "sound on",
  login_title: "Log in", username: "Username", password: "Password", login_submit: "Log in",
  login_failed: "wrong username or password", login_unavailable: "login is unavailable",
  forbidden: "You may not open this page.", go_home: "Home", loading: "loading…", error: "error: {msg}",
  sep: ": ", retry: "retry", none: "none", yes: "yes", no: "no", close: "close", unknown: "unknown",
  entrapments: "Entrapments", no_entrapments: "no entrapment", other_alarms: "Other alarms", no_alarms: "no alarm",
  entrapment_banner: "ENTRAPMENT! {n} not acknowledged", trapped_for: "trapped for", trapped_ended: "freed ({t})",
  ack_deadline: "acknowledge limit", arrival_deadline: "arrival limit", overdue_by: "late by {t}", remaining: "{t} left",
  awaiting_dispatch: "awaiting dispatch", arrived_at: "arrived {time}", late: "late", on_time: "on time",
  incident_state: "state", maintenance_unit: "maintenance unit", contact: "contact / phone", comment: "comment",
  comment_placeholder: "comment (optional)", add_comment: "add comment", false_alarm: "false alarm",
  confirm_false_alarm: "Mark as a false alarm?", step_conflict: "someone else updated it: {msg}",
  step_failed: "failed: {msg}",
  step_acknowledged: "Take the call", step_dispatched: "Dispatch maintenance", step_on_site: "On site",
  step_released: "Passengers released", step_closed: "Close",
  dispatch_needs: "dispatch needs the maintenance unit and a contact", escalated: "escalated to {who}",
  no_incident: "no incident", read_only: "read only",
  device: "device", address: "address", district: "district", registration_code: "registration code",
  owner: "owner", agency: "inspection agency", status: "status", last_inspection: "last inspection",
  next_due: "next due", fit_for_use: "fit-for-use status", online: "online", offline: "offline", last_seen: "last seen",
  telemetry: "latest telemetry", open_alarms: "open alarms", not_registered: "not registered",
  device_not_found: "device not found", raised_at: "raised", severity: "severity", type: "type", phone: "phone",
  category: "category",
  agency_title: "Inspection agency", overdue_list: "Overdue", due_list: "Due within 60 days", notices: "Notices",
  no_equipment: "no equipment", no_notices: "no notice", days_overdue: "{n} days overdue", days_left: "{n} days left",
  record_inspection: "Record an inspection", schedule: "schedule", inspected_on: "inspected on", result: "result",
  report_no: "report no.", submit: "Submit", recorded: "recorded; next due {date}", record_this: "record",
  agency_code: "agency code", filter_agency: "filter by agency (code)", kind: "kind", recipient: "recipient",
  channel: "channel", attempts: "attempts", last_error: "last error", created_at: "created", delivered_at: "delivered",
  due_date: "due", refresh: "refresh",
  bureau_title: "City overview", alarm_load: "Live alarm load", total_open: "open alarms", by_severity: "by severity",
  by_type: "by type", rescue_kpis: "Rescue KPIs (last 30 days)", kpi_by_district: "by district",
  kpi_by_unit: "by maintenance unit", not_dispatched: "not dispatched", incidents: "incidents", false_alarms: "false alarms", response: "response",
  arrival: "arrival", rescue: "rescue", mean: "mean", median: "median", late_acks: "late acks",
  late_arrivals: "late arrivals", escalations: "escalations", inspection_rate: "Inspection rate (target {target}%)",
  rate_by_district: "by district", rate_by_category: "by category", city_rate: "city rate", in_use: "in use",
  overdue: "overdue", rate: "rate", meets_target: "meets target", below_target: "below target",
  trend: "Inspection-rate trend (90 days)", expired_running: "Running with an expired inspection",
  no_expired_running: "none running with an expired inspection", in_minutes: "in minutes",
  // 96333 desk: the incident card, the new call, the timeline, the shift view
  step_responded: "Unit responded", response_deadline: "response limit", responded_at: "responded {time}",
  new_call: "New call", intake_search_hint: "rescue code / registration code / use registration no. / address",
  intake_note: "what the caller said", intake_open: "Open the incident", cancel: "cancel",
  intake_unregistered: "unregistered lift (type it in)", caller: "caller", caller_phone: "caller's phone",
  intake_found: "{n} found", intake_none: "nothing found: tick \"unregistered lift\" to type it in",
  intake_picked: "picked: ", intake_needs_device: "the device code is needed", intake_needs_unit: "find and pick the lift first",
  intake_refused: "not opened: {msg}", rescue_code: "rescue code", dispatch_send: "Dispatch", close_record: "close record",
  close_needs: "to close, fill in: {what}", no_answer: "No answer", redispatch: "Re-dispatch", start_tier_2: "Start tier 2",
  call_119: "Call 119", tier_3_note: "tier 3: {who}", tier_2_default: "nearest second-tier station (empty: chosen for you)",
  tier_3_default: "fire brigade (empty: 119)", tier_default_contact: "phone (empty: chosen for you)",
  contacts: "contacts:", unregistered_hint: "unregistered lift: check the address and maintenance unit with the caller",
  unregistered_unit: "maintenance unit (type it in)", timeline: "timeline", system_actor: "system", place: "place of use",
  closed_at: "closed", rec_persons_released: "persons released", rec_injuries: "injuries", rec_cause_class: "cause",
  rec_self_release: "self-release", rec_callback_confirmed: "call-back confirmed", rec_maintenance_unit: "unit",
  rec_contact: "contact", rec_caller: "caller", rec_caller_phone: "caller's phone", rec_alarm_id: "alarm",
  rec_reason: "reason", tier: "tier",
  nav_shift: "Shift", shift_today: "Today's incidents", shift_open: "{n} open", shift_closed: "{n} over",
  shift_history: "History", handover: "Handover summary", handover_since: "shift began", date_from: "from",
  date_to: "to", search_text: "text (device, rescue code, caller, maintenance unit)", search: "Search", more: "more",
  all: "all", source: "source", id: "no.", no_incidents: "no incident", result_count: "{n} found",
  handover_open: "open", handover_closed: "closed in the shift", handover_late_acks: "late acks",
  handover_late_responses: "late responses", handover_late_arrivals: "late arrivals", handover_escalations: "escalations",
  handover_open_list: "Open (handed over)", handover_closed_list: "Closed in the shift", rescuer: "rescuer",
  // Alarm desks
  nav_boiler: "Boiler desk", nav_iot: "IoT view", line_faults: "Elevator faults (96333)",
  desk_title_96333: "96333 elevator emergency line", desk_title_boiler: "Boiler alarms",
  desk_title_iot: "IoT: offline and data interrupted",
  desk_title_inspection: "Permit-state alarms (running with an expired inspection)", desk_count: "{n}",
  all_types: "all types", all_districts: "all districts", all_states: "all states",
  search_alarms: "search device, type, reason",
  alarm_unacknowledged: "not acknowledged", alarm_acknowledged: "acknowledged", alarm_handling: "handling",
  alarm_acknowledge: "Acknowledge", alarm_shelve: "Shelve", alarm_unshelve: "Unshelve", shelved_alarms: "Shelved",
  shelved_until: "shelved until", shelved_reason: "reason", shelve_minutes: "shelve for",
  shelve_reason_placeholder: "reason (required)", shelve_needs_reason: "a reason is required", minutes_n: "{n} min",
  acknowledged_by: "acknowledged by {who} at {time}",
  sound_on_turn_off: "sound on (click to turn off)", click_to_enable_sound: "click here or anywhere to enable sound",
  notify_title: "[{type}] new 96333 alarm", permit_state: "permit state",
  // Map (the city map of alarms and incidents)
  nav_map: "Map", map_title: "Alarms and incidents across the city", map_city: "Whole city", map_core: "Urban core",
  map_incidents: "incidents", map_alarms: "alarms", map_total: "total", map_unlocated: "{n} without coordinates",
  map_outlines_failed: "the district outlines could not be loaded: {msg}", map_legend_incident: "entrapment rescue",
  map_legend_critical: "critical alarm", map_legend_other: "other alarm",
  map_source: "district outlines: Tianditu (for orientation, not an authoritative boundary)",
  // Users (the administrator's page, /admin/users)
  nav_users: "Users", users_title: "Users", users_add: "Add user", users_log: "Changes",
  users_display_name: "display name", users_role: "role", users_initial_password: "initial password",
  users_password_rule: "At least 8 characters, not only spaces, at least 4 different ones; hand it over in person or by a safe channel.",
  users_new_password: "new password", users_reset: "Reset", users_disable: "Disable", users_enable: "Enable",
  users_active: "active", users_inactive: "disabled", users_you: "you", users_not_yourself: "you cannot disable yourself",
  users_created_on: "created", users_none: "no users", users_no_events: "no changes recorded", users_when: "when", users_who: "by",
  users_action: "change", users_detail: "detail", users_created: "user {user} added",
  users_password_set: "password of {user} reset; their sessions ended", users_disabled: "{user} disabled; their sessions ended",
  users_enabled: "{user} enabled",
  // Agency desk: lists, export, results upload, conclusions
  equipment_list: "Equipment", search_equipment: "code, certificate no., address or owner", search: "Search",
  all_districts: "all districts", all_categories: "all categories", all_statuses: "all statuses",
  due_window: "due window", window_overdue: "overdue", window_due30: "due within 30 days",
  window_due60: "due within 60 days", window_due90: "due within 90 days", window_all: "all", sort_by: "sort by",
  sort_next_due: "next due", sort_registration_code: "registration code", sort_district: "district",
  sort_category: "category", sort_address: "address", sort_status: "status", sort_owner: "owner",
  descending: "descending", page_size: "rows per page", per_page: "{n} per page", prev_page: "previous",
  next_page: "next", export_xlsx: "Export XLSX (whole filtered list)", list_count: "{from}–{to} of {total}",
  upload_results: "Upload inspection results", upload_file: "results file", upload: "Upload",
  upload_template: "template", upload_done: "{stored} recorded, {rejected} rows refused",
  upload_hint: "CSV (Excel's CSV, CSV UTF-8 or Unicode Text) or XLSX; columns: registration code, schedule, inspected on, conclusion, kind, report no., inspector, next stated, safety grade, in English or Chinese. Good rows are stored; bad ones are listed by line.",
  line: "line", reason: "reason", whole_file: "whole file", safety_grade: "safety grade", conclusion: "conclusion",
  inspection_kind: "kind", inspector: "inspector", report_file: "report file", report_uploaded: "report file uploaded",
  // Agency desk: empty lists, the notices' pager, corrections, a refused report file.
  list_empty: "nothing found", notice_count: "notices {from}–{to} of {total}",
  upload_done_replaced: "{stored} recorded, {replaced} corrected, {rejected} rows refused",
  recorded_replaced: "the same day's inspection of this kind was corrected; next due {date}",
  report_refused: "The inspection WAS recorded, but its report file was not: {msg}. Choose a PDF, PNG or JPEG file and submit again (the same day's record of this kind is corrected, not doubled).",
};

// Names of domain values, per language: [zh, en].
const NAMES = {
  alarm_type: {
    entrapment: ["困人", "entrapment"], alarm_button: ["报警按钮（无人）", "alarm button (empty car)"],
    safety_circuit_open: ["安全回路断开", "safety circuit open"], door_close_fault: ["关门故障", "door close fault"],
    door_open_fault: ["开门故障", "door open fault"],
    stopped_outside_door_zone: ["非平层停梯", "stopped outside the door zone"],
    unintended_car_movement: ["轿厢意外移动", "unintended car movement"],
    motor_runtime_limiter: ["电动机运转时间限制器动作", "motor run-time limiter"],
    floor_position_lost: ["楼层位置丢失", "floor position lost"], prevent_restart_fault: ["防止电梯再启动故障", "prevent-restart fault"],
    overrun_top: ["冲顶", "overrun top"], overrun_bottom: ["蹲底", "overrun bottom"], overspeed: ["超速", "overspeed"],
    main_power_lost: ["主电源断电", "main power lost"], extreme_low_water: ["极低水位", "extreme-low water"],
    high_water: ["高水位", "high water"], over_pressure: ["超压", "over-pressure"],
    over_temperature: ["超温", "over-temperature"], flame_failure: ["熄火", "flame failure"],
    inspection_expired_running: ["准用状态异常：超期未检仍在运行", "permit state: running with an expired inspection"],
    offline: ["离线", "offline"], silent: ["数据中断", "data interrupted"],
  },
  desk: { 96333: ["96333 应急", "96333"], boiler: ["锅炉", "boiler"], iot: ["物联网", "IoT"], inspection: ["准用状态", "permit state"] },
  severity: { critical: ["紧急", "critical"], major: ["重要", "major"], minor: ["一般", "minor"], warning: ["提示", "warning"] },
  incident_state: {
    raised: ["待接警", "raised"], acknowledged: ["已接警", "call taken"], dispatched: ["已派遣", "dispatched"],
    responded: ["已响应", "responded"], on_site: ["已到场", "on site"], released: ["已解困", "released"], closed: ["已结案", "closed"],
    false_alarm: ["误报", "false alarm"],
  },
  category: {
    elevator: ["电梯", "elevator"], boiler: ["锅炉", "boiler"], pressure_vessel: ["压力容器", "pressure vessel"],
    pressure_piping: ["压力管道", "pressure piping"], gas_cylinder: ["气瓶", "gas cylinder"], crane: ["起重机械", "crane"],
    in_plant_vehicle: ["场（厂）内专用机动车辆", "in-plant vehicle"],
    large_amusement_ride: ["大型游乐设施", "large amusement ride"], passenger_ropeway: ["客运索道", "passenger ropeway"],
  },
  district: {
    "630102": ["城东区", "Chengdong"], "630103": ["城中区", "Chengzhong"], "630104": ["城西区", "Chengxi"],
    "630105": ["城北区", "Chengbei"], "630106": ["湟中区", "Huangzhong"], "630121": ["大通县", "Datong County"],
    "630123": ["湟源县", "Huangyuan County"],
  },
  equipment_status: { in_use: ["在用", "in use"], stopped: ["停用", "stopped"], scrapped: ["报废", "scrapped"] },
  schedule: {
    periodic: ["定期检验", "periodic"], external: ["外部检验", "external"], internal: ["内部检验", "internal"],
    hydrostatic: ["水（耐）压试验", "hydrostatic"],
  },
  result: { pass: ["合格", "pass"], conditional: ["有条件合格", "conditional"], fail: ["不合格", "fail"] },
  notice_kind: { due: ["到期提醒", "due"], overdue: ["超期通知", "overdue"] },
  // Agency desk
  inspection_kind: { regular: ["定期检验", "regular"], reinspection: ["复检", "re-inspection"] },
  notice_state: { pending: ["待发送", "pending"], delivered: ["已送达", "delivered"], failed: ["失败", "failed"], cancelled: ["已取消", "cancelled"] },
  channel: { webhook: ["Webhook", "webhook"], email: ["电子邮件", "e-mail"] },
  role: { operator: ["值班员", "operator"], agency: ["检验机构", "agency"], bureau: ["监管局", "bureau"], admin: ["管理员", "admin"] },
  // Users: what user_events records
  user_action: {
    created: ["新增", "created"], password_reset: ["重置密码", "password reset"], disabled: ["停用", "disabled"],
    enabled: ["启用", "enabled"],
  },
  kind: { elevator: ["电梯", "elevator"], boiler: ["锅炉", "boiler"] },
  telemetry: {
    running: ["运行", "running"], direction: ["方向", "direction"], floor: ["楼层", "floor"],
    door_locked: ["门锁闭", "door locked"], door_zone: ["平层区", "in door zone"], passenger: ["有人", "passenger"],
    mode: ["服务模式", "mode"], power: ["电源", "power"], speed_mps: ["速度 m/s", "speed m/s"],
    trip_count: ["运行次数", "trips"], run_hours: ["运行小时", "run hours"], burner_on: ["燃烧器", "burner"],
    flame: ["火焰", "flame"], pressure_mpa: ["压力 MPa", "pressure MPa"], water_level_mm: ["水位 mm", "water level mm"],
    outlet_temp_c: ["出水温度 °C", "outlet °C"], return_temp_c: ["回水温度 °C", "return °C"],
    flue_temp_c: ["排烟温度 °C", "flue °C"], feedwater_flow_m3h: ["给水流量 m³/h", "feed water m³/h"],
    fuel_flow_m3h: ["燃料流量 m³/h", "fuel m³/h"],
  },
  telemetry_value: {
    up: ["上行", "up"], down: ["下行", "down"], stop: ["停止", "stopped"], normal: ["正常", "normal"],
    inspection: ["检修", "inspection"], fire_return: ["消防返回", "fire return"], firefighter: ["消防员", "firefighter"],
    emergency_power: ["应急电源", "emergency power"], seismic: ["地震", "seismic"], out_of_service: ["停止服务", "out of service"],
    main: ["主电源", "mains"], battery: ["电池", "battery"], off: ["断电", "off"],
  },
  // 96333 desk
  tier: { 1: ["一级", "tier 1"], 2: ["二级", "tier 2"], 3: ["三级", "tier 3"] },
  tier_unit: {
    1: ["维保单位", "maintenance unit"], 2: ["网格救援站", "second-tier rescue station"],
    3: ["消防救援（119）", "fire brigade (119)"],
  },
  cause_class: {
    human: ["人为", "human"], external: ["外部/停电", "external / power cut"], door_system: ["门系统", "door system"],
    control_system: ["控制系统", "control system"], other: ["其他", "other"], unrecorded: ["未记录", "not recorded"],
  },
  escalation_reason: { no_response: ["未响应", "no response"], late_arrival: ["到场超时", "late arrival"] },
  incident_source: { device: ["设备报警", "device alarm"], phone: ["电话接警", "phone call"] },
  search_match: {
    rescue_code: ["救援识别码", "rescue code"], registration_code: ["设备代码", "registration code"],
    use_registration_no: ["使用登记证编号", "use registration no."], code_prefix: ["代码开头", "code prefix"],
    address: ["地址", "address"],
  },
  step: {
    raised: ["接入", "received"], acknowledged: ["接警", "call taken"], dispatched: ["派遣", "dispatched"],
    responded: ["响应", "responded"], on_site: ["到场", "on site"], released: ["解困", "released"],
    closed: ["结案", "closed"], false_alarm: ["误报", "false alarm"], comment: ["备注", "comment"],
    no_answer: ["无人接听", "no answer"], ack_overdue: ["接警超时", "acknowledge limit missed"],
    response_overdue: ["响应超时", "response limit missed"], arrival_overdue: ["到场超时", "arrival limit missed"], escalated: ["升级", "escalated"],
    alarm_cleared: ["告警消除", "alarm cleared"], alarm_linked: ["关联设备告警", "device alarm linked"],
  },
  place: {
    residential: ["住宅", "residential"], mall: ["商场", "mall"], hospital: ["医院", "hospital"],
    school: ["学校", "school"], office: ["办公", "office"], hotel: ["宾馆", "hotel"], transport: ["交通枢纽", "transport"],
    public: ["公共场所", "public"], industrial: ["工业", "industrial"], other: ["其他", "other"],
    unknown: ["未知", "unknown"],
  },
};

// Bureau: the reporting period, the monthly 96333 report, drill-down, the expired split and the
// wall.
Object.assign(zh, {
  period: "统计期间", period_month: "按月", period_range: "按日期", period_from: "起", period_to: "止", apply: "确定",
  rescue_kpis_period: "困人救援指标", trend_period: "定检率趋势", rate_today: "（截至今日 {date}）",
  rate_by_agency: "按检验机构", no_agency: "未指定检验机构", counts: "本期统计",
  report: "96333 月报", open_report: "打印版月报", download_xlsx: "下载 Excel", print: "打印",
  report_title: "96333 电梯应急处置月报", report_period: "统计期间：{since} 至 {last}",
  calls: "电话接警", entrapments_n: "困人事件", persons_released: "解救人数", injuries: "受伤人数",
  arrival_30min_rate: "30 分钟到场率", response_rate: "响应率", entrapments_per_lift: "困人率（次/台）",
  entrapments_per_100_lifts: "每百台困人", lifts_in_use: "在用电梯（台）", dispatched_n: "已派单",
  tiers: "分级救援", causes: "困人原因", places: "使用场所", slots: "时段分布（{zone}）",
  top_units: "维保单位前十（每百台困人）", top_owners: "使用单位前十（每百台困人）", rank: "排名",
  name_col: "名称", lifts: "电梯（台）", count: "次数", figure: "指标", value: "数值",
  overdue_units: "超期未检设备：{what}（{n} 台）", drill_hint: "点击行查看超期设备",
  more_rows: "仅显示前 {n} 台", expired_reason: "原因", expired_all: "全部",
  wall_on: "大屏模式", wall_off: "退出大屏", updated_at: "更新于 {time}",
  report_incidents: "接警总数", timezone: "时区", // the report's (and its workbook's) words
  // the period refused
  period_refused: "统计期间无效：{why}", period_bad_month: "月份应为 YYYY-MM，年份 1900–2999",
  period_bad_day: "日期不存在或年份不在 1900–2999", period_reversed: "开始日期晚于结束日期",
  period_incomplete: "请填写开始和结束日期", period_showing: "仍显示 {since} 至 {last}",
  trend_no_data: "本期无数据",
});
Object.assign(en, {
  period: "Period", period_month: "month", period_range: "dates", period_from: "from", period_to: "to", apply: "apply",
  rescue_kpis_period: "Rescue KPIs", trend_period: "Inspection-rate trend", rate_today: "(as of today, {date})",
  rate_by_agency: "by agency", no_agency: "no agency named", counts: "This period",
  report: "96333 monthly report", open_report: "printable report", download_xlsx: "download Excel", print: "print",
  report_title: "96333 elevator emergency report", report_period: "Period: {since} to {last}",
  calls: "calls", entrapments_n: "entrapments", persons_released: "persons released", injuries: "injuries",
  arrival_30min_rate: "30-minute arrival rate", response_rate: "response rate",
  entrapments_per_lift: "entrapments per lift", entrapments_per_100_lifts: "per 100 lifts",
  lifts_in_use: "elevators in use", dispatched_n: "dispatched", tiers: "Rescue tier", causes: "Causes",
  places: "Places", slots: "Time of day ({zone})", top_units: "Top ten maintenance units (per 100 lifts)",
  top_owners: "Top ten owners (per 100 lifts)", rank: "rank", name_col: "name", lifts: "lifts", count: "count",
  figure: "figure", value: "value", overdue_units: "Overdue: {what} ({n} units)",
  drill_hint: "click a row for its overdue units", more_rows: "the first {n} shown", expired_reason: "reason",
  expired_all: "all", wall_on: "wall display", wall_off: "leave wall display", updated_at: "updated {time}",
  report_incidents: "incidents", timezone: "Time zone", // the report's (and its workbook's) words
  // the period refused
  period_refused: "Invalid period: {why}", period_bad_month: "a month is YYYY-MM, years 1900–2999",
  period_bad_day: "no such day, or a year outside 1900–2999", period_reversed: "the first day is after the last",
  period_incomplete: "give the first and the last day", period_showing: "still showing {since} to {last}",
  trend_no_data: "no data for this period",
});
Object.assign(NAMES, {
  expired_reason: {
    overdue: ["超期未检", "overdue"], unfit: ["检验不合格", "failed (unfit)"], stopped: ["停用仍运行", "stopped yet running"],
  },
  // The report's tier rows name who each tier sends; "none": never dispatched.
  report_tier: { 1: ["一级 维保单位", "1 maintenance unit"], 2: ["二级 网格救援站", "2 second-tier station"],
    3: ["三级 消防 119", "3 fire brigade 119"], none: ["未派单", "not dispatched"] },
});

// The 96333 desk: intake categories and address, sound muted, close
// record, shelving, no answer, history range, drafts across a language switch.
Object.assign(zh, {
  intake_not_a_lift: "非电梯设备，不能作为困人接警",
  intake_address: "设备地址（来电人所述）",
  no_answer_needs: "无人接听：请在上方填写所拨打的单位和电话",
  no_phone_configured: "未配置电话", type_phone: "填写电话并重新派遣",
  unregistered_hint_device: "未登记设备报警：地址和维保单位请向使用单位或现场核实",
  date_range_reversed: "起始日期晚于截止日期，请调整后再查询",
  sound_muted: "声音已关闭（点击开启）", sound_muted_alerting: "声音已关闭，有告警！点击开启",
  close_invalid: "填写有误：{what}（人数为不小于 0 的整数，受伤人数不超过解救人数）",
  intake_bad_device: "设备代码只能含字母、数字和 . _ -（最多 64 位）；地址请填在地址栏",
});
Object.assign(en, {
  intake_not_a_lift: "not a lift: no entrapment call on it",
  intake_address: "address (as the caller says)",
  no_answer_needs: "No answer: type the unit and the phone you called above",
  no_phone_configured: "no phone configured", type_phone: "type a phone and send again",
  unregistered_hint_device: "alarm from an unregistered lift: check the address and maintenance unit with its owner or on site",
  date_range_reversed: "the start date is after the end date: change them and search again",
  sound_muted: "sound off (click to turn on)", sound_muted_alerting: "sound off, alarm waiting! click to turn on",
  close_invalid: "Wrong: {what} (whole numbers from 0; injuries at most the persons released)",
  intake_bad_device: "the device code takes letters, digits and . _ - only (at most 64); put an address in the address field",
});

const DICTS = { "zh-CN": zh, en };
let current = readStored();

function readStored() {
  try {
    const stored = globalThis.localStorage?.getItem(STORAGE_KEY);
    return LANGS.includes(stored) ? stored : "zh-CN";
  } catch {
    return "zh-CN"; // storage blocked: the default
  }
}

export function lang() {
  return current;
}

export function setLang(value) {
  current = LANGS.includes(value) ? value : "zh-CN";
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, current);
  } catch {
    // not persisted; this page still switches
  }
}

// t("remaining", {t: "05:00"}): the string for the current language, zh-CN where en lacks it.
export function t(key, vars = {}) {
  const text = DICTS[current][key] ?? zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

// name("alarm_type", "entrapment") → 困人; the raw value where the name is not known.
export function name(group, value) {
  if (value === null || value === undefined) return "";
  const pair = NAMES[group]?.[value];
  if (!pair) return String(value);
  return pair[current === "en" ? 1 : 0];
}

export function keysOf(group) {
  return Object.keys(NAMES[group] ?? {});
}
