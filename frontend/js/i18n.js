// UI text in English and Chinese. t(key) looks a key up; elements carry data-i18n="key"
// (text), data-i18n-placeholder / data-i18n-label / data-i18n-title (attributes).
// The language comes from ?lang=, then localStorage, then navigator.language.

const DICT = {
  en: {
    "app.title": "Digital human", "skip": "Skip to content",
    "demo.how": "On your own site, add a config object and one script tag. sessionUrl is an endpoint of your backend that calls the signed API and returns {WsUrl, WhepUrl, PlayToken, AgentInstanceId} (see examples/widget_backend.py); the ServerSecret never reaches the browser.",
    "demo.note": "This page uses the server's own /web/session (open sessions) as its backend. Open the chat button in the corner.",
    "nav.home": "Home", "nav.companion": "Companion", "nav.tutor": "Tutor", "nav.studio": "Studio",
    "nav.widget": "Widget demo", "lang.toggle": "中文", "lang.label": "Switch language",
    "home.lead": "Talk to a digital human in your browser, learn with a tutor, or create avatars and videos.",
    "home.companion": "Chat with an AI companion using your microphone.",
    "home.tutor": "Read a lesson together; ask the tutor about it.",
    "home.studio": "Operators: create avatars, run streams and render videos.",
    "home.widget": "Add a customer-service avatar to any website with one script tag.",
    "pick.avatar": "Avatar", "pick.voice": "Voice", "pick.language": "Conversation language", "pick.languageShort": "Language",
    "pick.auto": "Default for the language",
    "btn.start": "Start talking", "btn.stop": "End", "btn.mute": "Mute microphone",
    "btn.unmute": "Unmute microphone", "btn.interrupt": "Interrupt", "btn.send": "Send",
    "btn.sound": "Sound on", "btn.read": "Read aloud", "btn.open": "Open chat", "btn.close": "Close",
    "chat.placeholder": "Type a message…", "chat.label": "Message",
    "chat.empty": "Press “Start talking”, then speak or type a message.",
    "transcript": "Transcript", "you": "You", "avatar": "Avatar",
    "st.idle": "Not connected", "st.starting": "Starting…", "st.connecting": "Connecting…",
    "st.listening": "Listening", "st.hearing": "Hearing you…", "st.thinking": "Thinking…",
    "st.speaking": "Speaking", "st.reconnecting": "Connection lost, reconnecting…",
    "st.ended": "Conversation ended", "st.micDenied": "Microphone unavailable: type instead",
    "st.muted": "Microphone muted", "st.error": "Something went wrong",
    "debug": "Debug", "debug.latency": "Latency of the last turn (ms)",
    "lat.endpoint": "End of speech", "lat.asr": "Speech recognition", "lat.llm": "LLM first token",
    "lat.sentence": "LLM first sentence", "lat.tts": "TTS first audio", "lat.out": "First audio out",
    "debug.video": "Video", "debug.frames": "frames decoded",
    "tutor.lesson": "Lesson", "tutor.pick": "Choose a lesson", "tutor.ask": "Ask about the lesson",
    "tutor.hint": "Press “Read aloud” beside a passage, then ask questions by voice or text.",
    "studio.signin": "Operator sign-in", "studio.password": "Password", "studio.login": "Sign in",
    "studio.logout": "Sign out", "studio.nopw": "The studio is locked: no operator password is set. Set DH_ADMIN_PASSWORD (environment or .env) and restart the server.",
    "studio.wrong": "Wrong password.",
    "studio.avatars": "Avatars", "studio.voices": "Voices", "studio.create": "Create an avatar",
    "studio.name": "Name", "studio.photo": "From a photo", "studio.video": "From a talking video",
    "studio.file": "File", "studio.upload": "Upload and create", "studio.progress": "Progress",
    "studio.actions": "Actions and keywords",
    "studio.actionsNote": "Actions and their keywords are set when an avatar is created (the form beside): a photo avatar has built-in actions you give keywords to; a video avatar's actions are named stretches of its video. Video jobs take extra keyword → action pairs. The API has no action to change them after creation.",
    "studio.photoKeywords": "Keywords of the actions (optional)",
    "studio.photoKeywordsHelp": "One action per line: action = word, word. A text drive saying a word starts the action. Actions of a photo avatar: nod, shake_head, tilt_head, smile, raise_eyebrows, greet, think.",
    "studio.videoActions": "Named actions (optional)",
    "studio.videoActionsHelp": "One per line: name start-end = word, word (seconds into the video). DoAction plays that stretch; a text drive saying a word starts it.",
    "studio.badLine": "Cannot read this line",
    "studio.streams": "Stream tasks", "studio.newStream": "Start a stream", "studio.watch": "Watch",
    "studio.stopTask": "Stop", "studio.driveText": "Say a text", "studio.driveAudio": "Play an audio file",
    "studio.text": "Text", "studio.videos": "Video jobs", "studio.newVideo": "Render a video",
    "studio.render": "Render", "studio.cancel": "Cancel", "studio.download": "Download",
    "studio.refresh": "Refresh", "studio.status": "Status", "studio.none": "Nothing yet.",
    "studio.preview": "Listen", "studio.language": "Language", "studio.format": "Format", "studio.task": "Task",
    "studio.keywords": "Keyword → action (one per line, e.g. hello=greet)",
    "status.building": "building", "status.ready": "ready", "status.failed": "failed",
    "vstatus.1": "queued", "vstatus.2": "rendering", "vstatus.3": "failed", "vstatus.4": "done", "vstatus.5": "cancelled",
    "tstatus.1": "starting", "tstatus.2": "failed to start", "tstatus.3": "streaming", "tstatus.4": "stopping", "tstatus.5": "stopped",
    "widget.title": "Customer service", "widget.greeting": "Hi! Ask me anything about your order.",
  },
  zh: {
    "app.title": "数字人", "skip": "跳到正文",
    "demo.how": "在你自己的网站上，加一个配置对象和一行 script 标签。sessionUrl 是你自己后端的接口：它用签名 API 创建实例，只返回 {WsUrl, WhepUrl, PlayToken, AgentInstanceId}（见 examples/widget_backend.py）；ServerSecret 永远不会到浏览器。",
    "demo.note": "本页用服务器自带的 /web/session（开放会话）作为后端。点右下角的按钮打开对话。",
    "nav.home": "首页", "nav.companion": "陪伴", "nav.tutor": "辅导", "nav.studio": "工作室",
    "nav.widget": "客服组件演示", "lang.toggle": "English", "lang.label": "切换语言",
    "home.lead": "在浏览器里和数字人对话、跟着老师学习，或者制作数字人形象和视频。",
    "home.companion": "用麦克风和 AI 陪伴者聊天。",
    "home.tutor": "一起读课文，向老师提问。",
    "home.studio": "运营人员：创建形象、管理直播流、生成视频。",
    "home.widget": "一行 script 标签，把数字人客服加到任何网站。",
    "pick.avatar": "形象", "pick.voice": "音色", "pick.language": "对话语言", "pick.languageShort": "语言",
    "pick.auto": "该语言的默认音色",
    "btn.start": "开始对话", "btn.stop": "结束", "btn.mute": "关闭麦克风",
    "btn.unmute": "打开麦克风", "btn.interrupt": "打断", "btn.send": "发送",
    "btn.sound": "打开声音", "btn.read": "朗读", "btn.open": "打开对话", "btn.close": "关闭",
    "chat.placeholder": "输入消息…", "chat.label": "消息",
    "chat.empty": "点“开始对话”，然后说话或输入消息。",
    "transcript": "对话记录", "you": "我", "avatar": "数字人",
    "st.idle": "未连接", "st.starting": "正在启动…", "st.connecting": "正在连接…",
    "st.listening": "正在听", "st.hearing": "听到你在说话…", "st.thinking": "思考中…",
    "st.speaking": "正在说话", "st.reconnecting": "连接中断，正在重连…",
    "st.ended": "对话已结束", "st.micDenied": "无法使用麦克风：请打字交流",
    "st.muted": "麦克风已关闭", "st.error": "出错了",
    "debug": "调试", "debug.latency": "上一轮的延迟（毫秒）",
    "lat.endpoint": "说话结束判定", "lat.asr": "语音识别", "lat.llm": "大模型首字",
    "lat.sentence": "大模型首句", "lat.tts": "语音合成首包", "lat.out": "首次出声",
    "debug.video": "视频", "debug.frames": "已解码帧",
    "tutor.lesson": "课文", "tutor.pick": "选择课文", "tutor.ask": "就课文提问",
    "tutor.hint": "点段落旁的“朗读”，然后用语音或文字提问。",
    "studio.signin": "运营人员登录", "studio.password": "密码", "studio.login": "登录",
    "studio.logout": "退出", "studio.nopw": "工作室已锁定：尚未设置运营密码。请设置 DH_ADMIN_PASSWORD（环境变量或 .env）后重启服务器。",
    "studio.wrong": "密码错误。",
    "studio.avatars": "形象", "studio.voices": "音色", "studio.create": "创建形象",
    "studio.name": "名称", "studio.photo": "用照片", "studio.video": "用说话视频",
    "studio.file": "文件", "studio.upload": "上传并创建", "studio.progress": "进度",
    "studio.actions": "动作与关键词",
    "studio.actionsNote": "动作和关键词在创建形象时设置（见旁边的表单）：照片形象有内置动作，可为其设关键词；视频形象的动作是视频中命名的片段。视频任务还可另加“关键词 → 动作”。API 目前没有创建后修改它们的接口。",
    "studio.photoKeywords": "动作关键词（可选）",
    "studio.photoKeywordsHelp": "每行一个动作：动作 = 词, 词。文本驱动说到这个词时做这个动作。照片形象的动作：nod, shake_head, tilt_head, smile, raise_eyebrows, greet, think。",
    "studio.videoActions": "命名动作（可选）",
    "studio.videoActionsHelp": "每行一个：名称 开始-结束 = 词, 词（视频里的秒数）。DoAction 播放这一段；文本驱动说到这个词时播放。",
    "studio.badLine": "无法识别这一行",
    "studio.streams": "直播流任务", "studio.newStream": "启动直播流", "studio.watch": "观看",
    "studio.stopTask": "停止", "studio.driveText": "朗读文本", "studio.driveAudio": "播放音频文件",
    "studio.text": "文本", "studio.videos": "视频任务", "studio.newVideo": "生成视频",
    "studio.render": "生成", "studio.cancel": "取消", "studio.download": "下载",
    "studio.refresh": "刷新", "studio.status": "状态", "studio.none": "暂无。",
    "studio.preview": "试听", "studio.language": "语言", "studio.format": "格式", "studio.task": "任务",
    "studio.keywords": "关键词 → 动作（每行一个，如 你好=greet）",
    "status.building": "制作中", "status.ready": "可用", "status.failed": "失败",
    "vstatus.1": "排队中", "vstatus.2": "生成中", "vstatus.3": "失败", "vstatus.4": "完成", "vstatus.5": "已取消",
    "tstatus.1": "启动中", "tstatus.2": "启动失败", "tstatus.3": "推流中", "tstatus.4": "停止中", "tstatus.5": "已停止",
    "widget.title": "在线客服", "widget.greeting": "你好！关于订单的问题都可以问我。",
  },
};

function initial() {
  const q = new URLSearchParams(location.search).get("lang");
  if (q === "en" || q === "zh") return q;
  try {
    const saved = localStorage.getItem("dh.lang");
    if (saved === "en" || saved === "zh") return saved;
  } catch (e) { /* storage blocked: fall through */ }
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

let lang = initial();
const listeners = new Set();

export function getLang() { return lang; }
export function t(key) { return (DICT[lang] && DICT[lang][key]) || DICT.en[key] || key; }
export function onLangChange(fn) { listeners.add(fn); }

export function setLang(next) {
  lang = next === "zh" ? "zh" : "en";
  try { localStorage.setItem("dh.lang", lang); } catch (e) { /* ignore */ }
  applyI18n(document);
  for (const fn of listeners) fn(lang);
}

export function applyI18n(root) {
  if (root === document) {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  }
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  for (const attr of ["placeholder", "title"]) {
    root.querySelectorAll(`[data-i18n-${attr}]`).forEach((el) => {
      el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
    });
  }
  root.querySelectorAll("[data-i18n-label]").forEach((el) => {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  });
}

// A button that flips the language; it names the *other* language, in that language.
export function mountToggle(button) {
  button.addEventListener("click", () => setLang(lang === "zh" ? "en" : "zh"));
  applyI18n(document);
}

// Text in a given language without touching the page (the widget on a third-party page).
export function tFor(language, key) {
  const l = language === "zh" ? "zh" : "en";
  return DICT[l][key] || DICT.en[key] || key;
}

export function browserLang() {
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}
