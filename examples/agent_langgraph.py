"""A LangGraph agent with a real tool, in which every model step picks its own decoding settings.

    pip install "hag-chain[agents]"
    python examples/agent_langgraph.py

The graph is the usual agent loop (model -> tools -> model). The first model step must call the tool: the 135M
default model rarely decides to call one on its own, so that step forces it with ``tool_choice``; the step after
the tool's result answers freely. Any chat model self-tunes in the same graph with
``with_self_tuning(model)`` (see examples/self_tune_second_model.py).
"""

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from hag_chain import ChatHAG


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


llm = ChatHAG(max_tokens=48, seed=0)
call_tool = llm.bind_tools([multiply], tool_choice="multiply")


def model_step(state: MessagesState) -> dict:
    if isinstance(state["messages"][-1], ToolMessage):  # the tool has answered: write the reply
        return {"messages": [llm.invoke(state["messages"])]}
    return {"messages": [call_tool.invoke(state["messages"])]}


graph = StateGraph(MessagesState)
graph.add_node("model", model_step)
graph.add_node("tools", ToolNode([multiply]))
graph.add_edge(START, "model")
graph.add_conditional_edges("model", tools_condition)  # tool calls -> "tools", otherwise the end
graph.add_edge("tools", "model")
agent = graph.compile()

result = agent.invoke({"messages": [("user", "What is 17 times 23?")]})
for message in result["messages"]:
    if isinstance(message, AIMessage):
        step = f"tool call {message.tool_calls[0]['args']}" if message.tool_calls else repr(message.content.strip())
        print(f"model step: {step}\n   configuration: {message.response_metadata['hag']['line']}")
    elif isinstance(message, ToolMessage):
        print(f"tool result: {message.content}")
